"""mmvlm.evaluation.prompt_mapping / prompt_evaluation: prompts mapped to
classes, the vocabularies of each mode, and per-prompt scores by the stock
CocoMetric / IoUMetric on hand-made predictions."""
import json

import pytest
import torch

from mmvlm.evaluation import (PromptForClass, PromptScorer,
                              check_scored_vocabulary,
                              evaluate_prompts_on_loader,
                              parse_prompts_for_classes, prompt_table,
                              scoring_passes)

CLASSES = ('background', 'left hippocampus', 'tree')


def test_parse_prompts_for_classes_all_spellings():
    rows = parse_prompts_for_classes(
        'tree. tree crown = tree .  Canopy=TREE. ', CLASSES)
    assert rows == [PromptForClass('tree', 'tree', 2),
                    PromptForClass('tree crown', 'tree', 2),
                    PromptForClass('Canopy', 'tree', 2)]
    assert parse_prompts_for_classes(
        [('car', 'tree'), 'background'], CLASSES) == [
            PromptForClass('car', 'tree', 2),
            PromptForClass('background', 'background', 0)]
    assert parse_prompts_for_classes({'hippocampal formation':
                                      'left hippocampus'}, CLASSES) == [
        PromptForClass('hippocampal formation', 'left hippocampus', 1)]


def test_parse_prompts_for_classes_reads_a_prompts_file(tmp_path):
    path = tmp_path / 'prompts.json'
    path.write_text(json.dumps(dict(classes=[
        dict(name='tree', prompt='tree crown', synonyms=['canopy']),
        dict(name='background')])))
    rows = parse_prompts_for_classes(str(path), CLASSES)
    assert [(r.prompt, r.class_name) for r in rows] == [
        ('tree crown', 'tree'), ('canopy', 'tree'),
        ('background', 'background')]


@pytest.mark.parametrize('spec, match', [
    ('car', "class 'car' is not a class of the dataset.*car=<class name>"),
    ('car=bus', "class 'bus' is not a class"),
    ('tree. Tree=tree', "'Tree' for class 'tree' is given twice"),
    (' . ', 'No prompt'),
    ('=tree', 'Blank prompt'),
    ('a=b=tree', 'more than one'),
])
def test_parse_prompts_for_classes_errors_name_the_fix(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_prompts_for_classes(spec, CLASSES)


def test_scoring_passes_of_each_mode():
    prompts = parse_prompts_for_classes('tree. canopy=tree. car=tree',
                                        CLASSES)
    together, = scoring_passes(prompts, CLASSES, 'together')
    assert together.vocabulary == ('tree', 'canopy', 'car')
    assert together.prompt_slots == {0: 0, 1: 1, 2: 2}
    each = scoring_passes(prompts, CLASSES, 'each')
    assert [p.vocabulary for p in each] == [('tree', ), ('canopy', ),
                                            ('car', )]
    assert [p.prompt_slots for p in each] == [{0: 0}, {1: 0}, {2: 0}]
    replace = scoring_passes(prompts, CLASSES, 'replace')
    assert replace[1].vocabulary == ('background', 'left hippocampus',
                                     'canopy')
    assert replace[1].prompt_slots == {1: 2}
    with pytest.raises(ValueError, match='choose one of'):
        scoring_passes(prompts, CLASSES, 'all')
    # one prompt for two classes: scored once, a row per class
    shared = parse_prompts_for_classes(
        'tree. car=tree. Car=left hippocampus', CLASSES)
    together, = scoring_passes(shared, CLASSES, 'together')
    assert together.vocabulary == ('tree', 'car')
    assert together.prompt_slots == {0: 0, 1: 1, 2: 1}
    each = scoring_passes(shared, CLASSES, 'each')
    assert [(p.vocabulary, p.prompt_slots) for p in each] == [
        (('tree', ), {0: 0}), (('car', ), {1: 0, 2: 0})]
    clash = parse_prompts_for_classes('background=tree', CLASSES)
    with pytest.raises(ValueError, match='name of another class'):
        scoring_passes(clash, CLASSES, 'replace')


def _det_sample(img_id, boxes, labels, scores, gt_boxes, gt_labels):
    return dict(
        img_id=img_id, ori_shape=(100, 100),
        pred_instances=dict(bboxes=torch.tensor(boxes).reshape(-1, 4),
                            labels=torch.tensor(labels, dtype=torch.long),
                            scores=torch.tensor(scores)),
        instances=[dict(bbox=b, bbox_label=lab, ignore_flag=0)
                   for b, lab in zip(gt_boxes, gt_labels)])


def test_prompt_scorer_detection_scores_only_its_boxes_on_its_class():
    pytest.importorskip('mmdet')
    import mmdet.evaluation  # noqa: F401  (registers CocoMetric)
    from mmengine.registry import DefaultScope
    gt = [[10., 10., 40., 40.], [60., 60., 90., 90.]]
    # slot 0 finds the class-2 box exactly; slot 1 boxes the class-0 object
    samples = [_det_sample(1, [[10., 10., 40., 40.], [60., 60., 90., 90.]],
                           [0, 1], [0.9, 0.8], gt, [2, 0])]
    meta = dict(classes=CLASSES, palette=[(0, 0, 0)] * 3)
    with DefaultScope.overwrite_default_scope('mmdet'):
        right = PromptScorer(PromptForClass('tree', 'tree', 2),
                             dict(type='CocoMetric'), meta)
        wrong = PromptScorer(PromptForClass('car', 'tree', 2),
                             dict(type='CocoMetric'), meta)
        right.process(samples, slot=0)
        wrong.process(samples, slot=1)
        r, w = right.compute(), wrong.compute()
    assert r['AP50'] == pytest.approx(100.0) and r['predicted'] == 1
    assert w['AP50'] == pytest.approx(0.0) and w['predicted'] == 1
    none = PromptScorer(PromptForClass('bus', 'tree', 2),
                        dict(type='mmdet.CocoMetric'), meta)
    none.process(samples, slot=5)
    assert none.compute()['AP'] == 0.0  # no box: CocoMetric logs nothing


def test_prompt_scorer_operating_point_drops_low_scores():
    """AP ranks boxes: a prompt whose only box scores 0.06 gets AP50 100
    without a threshold; at an operating point of 0.3 it keeps nothing,
    and ``top_score`` reports how high its boxes scored."""
    pytest.importorskip('mmdet')
    import mmdet.evaluation  # noqa: F401  (registers CocoMetric)
    from mmengine.registry import DefaultScope
    gt = [[10., 10., 40., 40.]]
    samples = [_det_sample(1, [[10., 10., 40., 40.]], [0], [0.06], gt, [2]),
               _det_sample(2, [[10., 10., 40., 40.]], [1], [0.9], gt, [2])]
    meta = dict(classes=CLASSES)
    rows = {}
    with DefaultScope.overwrite_default_scope('mmdet'):
        for thr in (None, 0.3):
            scorer = PromptScorer(PromptForClass('car', 'tree', 2),
                                  dict(type='CocoMetric'), meta, thr)
            scorer.process(samples, slot=0)
            rows[thr] = scorer.compute()
    assert rows[None]['predicted'] == 1 and rows[0.3]['predicted'] == 0
    assert rows[None]['AP50'] == pytest.approx(50.5)  # 1 of 2 (101 points)
    assert rows[0.3]['AP50'] == 0.0
    # image 1: 0.06; image 2: no box of slot 0
    assert rows[None]['top_score'] == pytest.approx(0.03)
    with pytest.raises(ValueError, match='score_thr=3'):
        evaluate_prompts_on_loader(_PromptModel(), [], dict(type='x'),
                                   meta, [], 'each', score_thr=3)


class _PromptModel(torch.nn.Module):
    """Takes prompts (``temporary_vocabulary``); never run."""

    def temporary_vocabulary(self, vocabulary, label_ids=None):
        raise AssertionError('not reached')


def test_prompt_scorer_segmentation_is_class_vs_rest_with_ignore():
    pytest.importorskip('mmseg')
    import mmseg.evaluation  # noqa: F401
    from mmengine.registry import DefaultScope
    gt = torch.tensor([[[1, 1, 2, 2], [0, 0, 255, 255]]])
    pred = torch.tensor([[[3, 1, 3, 3], [0, 3, 3, 0]]])
    sample = dict(gt_sem_seg=dict(data=gt), pred_sem_seg=dict(data=pred))
    with DefaultScope.overwrite_default_scope('mmseg'):
        scorer = PromptScorer(PromptForClass('tree crown', 'tree', 2),
                              dict(type='IoUMetric'), dict(classes=CLASSES))
        scorer.process([sample], slot=3)
        out = scorer.compute()
    # class-2 pixels: 2 (both hit); slot-3 pixels outside ignore: 4
    assert out['IoU'] == pytest.approx(50.0)
    assert out['Dice'] == pytest.approx(100 * 2 * 2 / (4 + 2), abs=0.01)
    assert out['predicted'] == 5
    rows = [dict(prompt='tree crown', **{'class': 'tree'}, **out)]
    assert '| tree crown | tree | 50.0 | 66.7 | 5 |' in prompt_table(rows)


class _Model:

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary


def test_check_scored_vocabulary_catches_other_prompts():
    from mmengine.structures import InstanceData, PixelData
    from mmdet.structures import DetDataSample
    from mmseg.structures import SegDataSample
    det = DetDataSample(pred_instances=InstanceData(
        labels=torch.tensor([0, 1]), bboxes=torch.zeros(2, 4),
        scores=torch.ones(2)))
    check_scored_vocabulary(_Model(['tree', ('car', 'auto')]),
                            ['tree', 'car'], [det])
    with pytest.raises(RuntimeError, match='not the prompts asked'):
        check_scored_vocabulary(_Model(['tree']), ['tree', 'car'], [det])
    with pytest.raises(RuntimeError, match='outside the 1 prompts'):
        check_scored_vocabulary(_Model(['tree']), ['tree'], [det])
    seg = SegDataSample(seg_logits=PixelData(data=torch.zeros(13, 4, 4)))
    with pytest.raises(RuntimeError, match='scored 13 classes, not the 15'):
        check_scored_vocabulary(_Model([str(i) for i in range(15)]),
                                [str(i) for i in range(15)], [seg])
