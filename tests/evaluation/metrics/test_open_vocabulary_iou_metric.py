"""OpenVocabularyIoUMetric: mIoU on seen and unseen classes."""
import pytest
import torch
from mmengine.structures import PixelData

pytest.importorskip('mmseg')

from mmseg.structures import SegDataSample  # noqa: E402

from mmvlm.evaluation import OpenVocabularyIoUMetric  # noqa: E402


def sample(pred, gt):
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    return s.to_dict()


def test_seen_unseen_and_harmonic_miou():
    metric = OpenVocabularyIoUMetric(unseen_classes=['c'],
                                     iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    # class a: perfect; class b: IoU 1/2; class c: IoU 0
    gt = [[0, 0, 1, 1], [2, 2, 2, 2]]
    pred = [[0, 0, 1, 2], [1, 1, 1, 1]]
    metric.process([], [sample(pred, gt)])
    out = metric.compute_metrics(metric.results)
    # IoU a = 2/2, b = 1/6 (1 hit; union = 2 gt + 5 pred - 1), c = 0/5
    iou_b = 1 / 6
    assert out['mIoU_seen'] == pytest.approx(round((1 + iou_b) / 2 * 100, 2))
    assert out['mIoU_unseen'] == 0.0
    assert out['hIoU'] == 0.0
    assert out['mIoU'] == pytest.approx(round((1 + iou_b) / 3 * 100, 2))


def test_harmonic_mean_and_errors():
    assert OpenVocabularyIoUMetric.harmonic_mean(50.0, 25.0) == \
        pytest.approx(33.33)
    with pytest.raises(ValueError, match='non-empty'):
        OpenVocabularyIoUMetric(unseen_classes=[])
    metric = OpenVocabularyIoUMetric(unseen_classes=['zebra'])
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError, match='zebra'):
        metric.unseen_ids()
