"""The demo's report writer and the scoring of its open-vocabulary step
(projects/demo/mmvlm_demo/report.py, open_vocabulary.py)."""
import json

import numpy as np
import pytest
import torch

from projects.demo.mmvlm_demo import open_vocabulary, report


def test_prompt_scores_per_gt_uses_best_overlapping_box():
    pytest.importorskip('mmdet')
    from mmengine.structures import InstanceData
    gt = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
    pred = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                             [0., 0., 10., 10.], [80., 80., 90., 90.]]),
        scores=torch.tensor([0.5, 0.7, 0.2, 0.9]),
        labels=torch.tensor([0, 0, 1, 1]))
    scores = open_vocabulary.prompt_scores_per_gt(gt, pred, 3)
    np.testing.assert_allclose(scores, [[0.7, 0.2, 0.0], [0.0, 0.0, 0.0]])
    empty = open_vocabulary.prompt_scores_per_gt(gt, pred[:0], 2)
    assert empty.shape == (2, 2) and not empty.any()


def test_report_has_metrics_and_the_open_vocabulary_note(tmp_path):
    work = tmp_path / 'work'
    for name, record in (('det_stock', {'coco/bbox_mAP': 0.063,
                                        'coco/bbox_mAP_50': 0.251}),
                         ('det_lg', {'coco/bbox_mAP': 0.071,
                                     'coco/bbox_mAP_50': 0.279}),
                         ('seg_stock', {'mIoU': 34.2, 'mDice': 46.7}),
                         ('seg_lg', {'mIoU': 46.0, 'mDice': 61.0})):
        stamp = work / name / 'test' / '20260101_000000'
        stamp.mkdir(parents=True)
        (stamp / '20260101_000000.json').write_text(json.dumps(record))
    (work / 'timings.tsv').write_text('train_det_lg\t95\ntotal\t507\n')
    (work / 'open_vocab').mkdir()
    (work / 'open_vocab' / 'open_vocab.json').write_text(json.dumps(dict(
        detection=dict(prompts=['tree', 'dead tree'],
                       mean_score={'Dead': {'tree': 0.03,
                                            'dead tree': 0.03}},
                       num_crowns={'Dead': 4}),
        segmentation=dict(heldout=['left hippocampus'],
                          iou={'left hippocampus': 1.5},
                          predicted_pixels={'left hippocampus': 80}))))
    text = report.build_report(str(work), str(tmp_path))
    assert '| language-guided ATSS + MiniLM prefix | 7.1 | 27.9 |' in text
    assert '| language-guided FPN + MiniLM prefix | 46.0 | 61.0 |' in text
    assert 'Total time: **8 min 27 s**' in text
    assert '`left hippocampus` IoU 1.5 % (80 pixels predicted)' in text
    assert 'set_vocabulary' in text and 'not comparable' in text
    assert report.main(['--work-dir', str(work), '--data-root',
                        str(tmp_path)]) == 0
    assert (work / 'report.md').read_text() == text
