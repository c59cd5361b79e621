"""The demo's probe words, the arithmetic of its open-vocabulary step and
the report writer (projects/demo/mmvlm_demo/{probes,open_vocabulary,plots,
report}.py); the probes themselves run on mmvlm.apis.evaluate_prompts
(tests/apis/test_prompt_evaluation.py)."""
import json

import pytest

from mmvlm.evaluation import parse_prompts_for_classes
from projects.demo.mmvlm_demo import open_vocabulary, plots, probes, report
from projects.demo.mmvlm_demo.demo_models import CONTROL_MODELS, DEMO_MODELS
from projects.demo.mmvlm_demo.vocabulary_splits import (CLASSES, HELD_OUT,
                                                        SEEN, UNRELATED)


def test_probe_words_are_valid_prompts_and_never_class_names():
    assert probes.paraphrase('brain', 'left precentral gyrus', 0) == \
        'left primary motor cortex'
    assert probes.paraphrase('trees', 'tree', 1) == 'canopy'
    assert probes.paraphrase('brain', 'background', 0) is None
    names = {n.lower() for t in CLASSES.values() for n in t}
    for task in ('trees', 'brain'):
        pieces = (probes.specificity_prompts(task) +
                  probes.chance_prompts(task) +
                  [p for k in range(probes.NUM_PARAPHRASE_SETS)
                   for p in probes.paraphrase_prompts(task, k)])
        # trees: the held-out names are classes of the held-out COCO file
        classes = tuple(dict.fromkeys(CLASSES[task] + HELD_OUT[task]))
        pieces = list(dict.fromkeys(pieces))  # near paraphrase = set 0
        rows = parse_prompts_for_classes(pieces, classes)
        assert len(rows) == len(pieces)
        for k in range(probes.NUM_PARAPHRASE_SETS):
            para = probes.paraphrase_prompts(task, k)
            # every seen region has a paraphrase, none is a class name
            assert len(para) == len(SEEN[task])
            assert not {p.split('=')[0].lower() for p in para
                        if '=' in p} & names
    chance = probes.chance_prompts('brain')
    assert chance[0] == f'{HELD_OUT["brain"][1]}={HELD_OUT["brain"][0]}'
    spec = probes.specificity_prompts('brain')
    assert spec[0] == probes.SPECIFICITY_CLASS['brain']
    assert spec[-1].startswith('left middle frontal convolution=')


def test_trees_held_out_coco_uses_source_labels(tmp_path):
    ann = tmp_path / 'trees' / 'annotations'
    ann.mkdir(parents=True)
    box = dict(bbox=[0, 0, 10, 10], area=100, iscrowd=0, category_id=1)
    (ann / 'test.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.png'), dict(id=2,
                                                    file_name='b.png')],
        annotations=[dict(box, id=1, image_id=1, source_label='Dead'),
                     dict(box, id=2, image_id=1, source_label='Alive'),
                     dict(box, id=3, image_id=1),
                     dict(box, id=4, image_id=2)],
        categories=[dict(id=1, name='tree')])))
    out = open_vocabulary.write_trees_held_out_coco(
        str(tmp_path), str(tmp_path / 'held.json'))
    coco = json.loads(open(out).read())
    assert [c['name'] for c in coco['categories']] == list(HELD_OUT['trees'])
    assert [i['id'] for i in coco['images']] == [1]
    cats = [(a['category_id'], a['iscrowd']) for a in coco['annotations']]
    # dead -> 1, alive -> 2, the unlabelled crown ignored in both
    assert cats == [(1, 0), (2, 0), (1, 1), (2, 1)]
    opts = open_vocabulary.trees_options(str(tmp_path), out)
    assert opts['test_dataloader.dataset.metainfo'] == dict(
        classes=tuple(HELD_OUT['trees']))


def test_paraphrase_and_specificity_fractions():
    scores = {'tree': 40.0, 'tree crown': 30.0, 'canopy': 10.0,
              'car': 4.0, 'bacterium': 8.0, 'person': 0.0, 'airplane': 2.0}
    out = open_vocabulary._paraphrase_and_specificity(
        'trees', {'tree': 40.0}, scores)
    assert out['paraphrase_fraction'] == pytest.approx(0.5)
    assert out['unrelated_fraction'] == pytest.approx(0.2)
    assert out['near_fraction'] == pytest.approx(0.75)
    assert out['paraphrases'][1] == {'canopy (tree)': 10.0}


def _probe(task, held, chance, para, unrelated):
    right = 50.0
    spec = {u: unrelated * right for u in UNRELATED[task]}
    return dict(seen={'tree': right},
                held_out={n: held for n in HELD_OUT[task]},
                chance={n: chance for n in HELD_OUT[task]},
                paraphrases={'0': {'tree crown (tree)': 20.0},
                             '1': {'canopy (tree)': 40.0}},
                paraphrase_fraction=para, specificity_class='tree',
                right=right, specificity=spec,
                unrelated_fraction=unrelated, near_fraction=0.9,
                specificity_predicted={'car': 3},
                held_out_predicted={n: 7 for n in HELD_OUT[task]},
                images=[])


def _with_operating_point(probe, thr=0.15):
    """A detection probe that also has the operating point: the unrelated
    words keep 88 % at any score, nothing at ``thr``."""
    probe = dict(probe, unrelated_fraction=0.88)
    probe.update(
        specificity_top_score={'tree': 0.335, 'car': 0.03,
                               'bacterium': 0.06},
        operating_score_thr=thr, operating_right=40.0,
        operating_specificity={u: 0.0 for u in UNRELATED['trees']},
        operating_predicted={'tree': 597, 'car': 0},
        operating_unrelated_fraction=0.0, operating_near_fraction=0.7)
    return probe


def test_report_table_sentences_retention_and_curves(tmp_path):
    work = tmp_path / 'work'
    # the controls of the second command ran too; SmolLM2 was not probed
    for m in DEMO_MODELS + CONTROL_MODELS:
        stamp = work / m['key'] / 'test' / '20260101_000000'
        stamp.mkdir(parents=True)
        record = ({'coco/bbox_mAP': 0.301, 'coco/bbox_mAP_50': 0.652}
                  if m['task'] != 'brain' else {'mIoU': 61.0, 'mDice': 70.0})
        (stamp / '20260101_000000.json').write_text(json.dumps(record))
        vis = work / m['key'] / '20260101_000000' / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in (
            dict(loss=2.0, iter=10, step=10), dict(loss=1.0, iter=20,
                                                   step=20),
            dict(mIoU=50.0, step=20) if m['task'] == 'brain' else
            {'coco/bbox_mAP': 0.2, 'step': 20})))
    keys = {m['kind'] + m['task']: m['key'] for m in DEMO_MODELS}
    probes_out = {
        keys['lg-frozentrees']: _probe('trees', 12.0, 6.0, 0.9, 0.1),
        keys['lg-unfrozentrees']: _with_operating_point(
            _probe('trees', 3.0, 6.0, 0.5, 0.6)),
        keys['lg-frozenbrain']: _probe('brain', 8.0, 0.5, 0.3, 0.0)}
    (work / 'open_vocab').mkdir()
    (work / 'open_vocab' / 'open_vocab.json').write_text(
        json.dumps(dict(models=probes_out)))
    (work / 'timings.tsv').write_text(''.join(
        f'train_{m["key"]}\t{100 + i}\n' for i, m in enumerate(DEMO_MODELS))
        + 'total\t507\n')
    text = report.build_report(str(work), str(tmp_path))
    assert 'Total time: **8 min 27 s**' in text
    assert ('| LG-MiniLM (frozen LM + prefix) | 30.1 / 65.2 | 12.0 | 6.0 | '
            '90 % | 10 % |') in text
    assert '| stock (closed set) | 30.1 / 65.2 | closed set: cannot |' in text
    assert 'it finds held-out names above chance (mean AP50 12.0 vs 6.0)' in text
    assert 'within the 20 % goal: the words matter' in text
    assert 'held-out AP50 12.0 with the frozen LM + prefix vs 3.0' in text
    assert 'lost part of the novel-name ability' in text
    # a model without probes is said so, not left blank
    assert 'not run' in text
    assert '(training_curves.png)' in text
    assert (work / 'training_curves.png').stat().st_size > 1000
    assert 'training took' in text  # cost relative to MiniLM
    assert '| tree: tree crown; canopy | 50.0 / 20.0 / 40.0 |' in text
    assert '| `car` (unrelated) | 5.0 (3 boxes) |' in text
    assert '`dead tree` finds the dead crowns with AP50 12.0, `living ' \
        'tree` finds them with 6.0: it tells dead crowns' in text
    assert 'new combinations of seen words' in text
    assert '| dead tree | 12.0 (7 boxes) | 3.0 (7 boxes) | 6.0 |' in text
    assert 'words never seen (left hippocampus, right hippocampus): ' \
        'IoU 8.0 vs chance 0.5' in text
    assert 'the best unrelated word keeps 10 % of the right name' in text
    assert 'paraphrases never trained on keep 90 %' in text
    # the operating point: AP at any score vs at the deployed threshold
    assert ('| 3.0 | 6.0 | 50 % | 0 % at score 0.15 (88 % at any score) |'
            in text)
    assert ('at the operating score 0.15 the best unrelated word keeps 0 %'
            in text)
    assert 'its best boxes score 0.060 against 0.335' in text
    assert '30.0 (3 boxes); at score 0.15: 0.0 (0 boxes); top score 0.030' \
        in text
    assert report.main(['--work-dir', str(work), '--data-root',
                        str(tmp_path)]) == 0
    assert (work / 'report.md').read_text() == text
    summary = json.loads((work / 'summary.json').read_text())
    assert summary['trees_lg_ap50'] == 65.2
    assert summary['brain_lg_miou'] == 61.0
    # no many-concept evaluation in this work dir: null, not invented
    assert summary['many_concepts_det_held_out_ap50'] is None


def test_read_scalars_splits_losses_and_validation(tmp_path):
    vis = tmp_path / 'run' / '20260101_000000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(
        '{"loss": 1.5, "iter": 5, "step": 5}\n\n'
        '{"mIoU": 40.0, "aAcc": 90.0, "step": 5}\n')
    losses, vals = plots.read_scalars(str(tmp_path / 'run'))
    assert losses == [(5, 1.5)]
    assert vals == [(5, {'mIoU': 40.0, 'aAcc': 90.0, 'step': 5})]
    assert plots.read_scalars(str(tmp_path / 'none')) == ([], [])


def test_report_states_failed_and_unmeasured_probes(tmp_path):
    work = tmp_path / 'work'
    (work / 'open_vocab').mkdir(parents=True)
    key = next(m['key'] for m in DEMO_MODELS
               if m['kind'] == 'lg-frozen' and m['task'] == 'trees')
    unmeasured = dict(_probe('trees', 0.0, 0.0, 0.9, 0.1), held_out={},
                      chance={}, note='No test crown is labelled Dead')
    (work / 'open_vocab' / 'open_vocab.json').write_text(json.dumps(dict(
        models={key: unmeasured}, failed={'seg_lg': 'RuntimeError: x'})))
    text = report.build_report(str(work), str(tmp_path))
    assert '**Open-vocabulary probes FAILED** for `seg_lg`: ' \
        'RuntimeError: x' in text
    assert 'n/a: No test crown is labelled Dead' in text
    assert report.main(['--work-dir', str(work)]) == 1
    assert (work / 'report.md').is_file()


def test_open_vocabulary_main_records_skipped_and_failed(tmp_path):
    work = tmp_path / 'work'
    key = next(m['key'] for m in open_vocabulary.PROBED_MODELS
               if m['kind'] == 'lg-frozen')
    (work / key).mkdir(parents=True)
    (work / key / 'last_checkpoint').write_text('gone.pth')
    assert open_vocabulary.main(['--work-dir', str(work), '--data-root',
                                 str(tmp_path), '--jobs', '1']) == 0
    out = json.loads((work / 'open_vocab' / 'open_vocab.json').read_text())
    assert out['models'] == {}
    assert 'FileNotFoundError' in out['failed'][key]
    lg = [m['key'] for m in open_vocabulary.PROBED_MODELS]
    assert set(out['skipped']) == set(lg) - {key}


def test_draw_score_threshold_keeps_pictures_readable():
    import numpy as np
    many = np.linspace(0.9, 0.01, 200)
    assert open_vocabulary.draw_score_threshold(many) == 0.3
    few = np.array([0.5] + [0.2] * 30 + [0.01] * 100)
    assert open_vocabulary.draw_score_threshold(few) == 0.2
    faint = np.full(100, 0.02)
    assert open_vocabulary.draw_score_threshold(faint) == 0.1


def test_probe_parts_merge_into_one_file(tmp_path):
    """The run script probes each model in its training slot (one part
    per model) and merges once: results, failures and the models left
    unprobed are all in open_vocab.json."""
    work = tmp_path / 'work'
    lg = [m['key'] for m in open_vocabulary.PROBED_MODELS]
    good, bad, unprobed = lg[0], lg[1], lg[2]
    (work / 'open_vocab' / 'models').mkdir(parents=True)
    for key, part in ((good, dict(result={'seconds': 1.0}, error=None)),
                      (bad, dict(result=None, error='RuntimeError: x'))):
        (work / 'open_vocab' / 'models' / f'{key}.json').write_text(
            json.dumps(part))
    (work / unprobed).mkdir()
    (work / unprobed / 'last_checkpoint').write_text('iter_2.pth')
    assert open_vocabulary.main(['--work-dir', str(work),
                                 '--merge-only']) == 0
    out = json.loads((work / 'open_vocab' / 'open_vocab.json').read_text())
    assert out['models'] == {good: {'seconds': 1.0}}
    assert out['failed'] == {bad: 'RuntimeError: x'}
    assert out['skipped'][unprobed] == 'not probed'
    assert all(out['skipped'][k] == 'not trained' for k in lg[3:])


def test_held_out_verdict_is_per_name():
    """A mean above chance from one name alone (``living tree`` scoring like
    the seen ``tree`` while ``dead tree`` finds nothing) is not reported as
    finding held-out names."""
    probe = _probe('trees', 0.0, 0.0, 0.9, 0.1)
    probe['held_out'] = {'dead tree': 0.0, 'living tree': 27.7}
    probe['chance'] = {'dead tree': 3.1, 'living tree': 0.0}
    assert report.names_above_chance(probe) == (
        ['living tree'], ['dead tree', 'living tree'])
    entry = next(m for m in DEMO_MODELS
                 if m['kind'] == 'lg-frozen' and m['task'] == 'trees')
    text = report.glance_sentence('trees', [entry], {}, {entry['key']: probe},
                                  {})
    assert ('finds 1 of 2 held-out names above chance (living tree), not '
            'the others (mean AP50 13.8 vs 1.6)') in text
