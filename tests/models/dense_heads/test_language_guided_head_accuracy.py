"""On a tiny synthetic detection task (coloured squares), the
language-guided ATSS head reaches the stock ATSS head's accuracy for the
same number of iterations, features and initialisation."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytest.importorskip('mmdet')

from mmdet.evaluation.functional import eval_map  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.testing import TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg  # noqa: E402

SIZE, CH, D = 64, 16, 64
COLOURS = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.9]])



def make_batch(num: int, gen: torch.Generator):
    images = torch.full((num, 3, SIZE, SIZE), 0.5)
    samples = []
    for i in range(num):
        boxes, labels = [], []
        for _ in range(int(torch.randint(1, 3, (1, ), generator=gen))):
            label = int(torch.randint(0, 3, (1, ), generator=gen))
            side = int(torch.randint(14, 28, (1, ), generator=gen))
            x, y = torch.randint(0, SIZE - side, (2, ), generator=gen).tolist()
            images[i, :, y:y + side, x:x + side] = COLOURS[label, :, None,
                                                           None]
            boxes.append([x, y, x + side, y + side])
            labels.append(label)
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(SIZE, SIZE),
                ori_shape=(SIZE, SIZE),
                pad_shape=(SIZE, SIZE),
                batch_input_shape=(SIZE, SIZE),
                scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            labels=torch.tensor(labels))
        samples.append(sample)
    return images, samples


class TinyFeatures(nn.Module):
    """Three feature levels at strides 8, 16, 32."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, CH, 3, 2, 1), nn.ReLU(), nn.Conv2d(CH, CH, 3, 2, 1),
            nn.ReLU(), nn.Conv2d(CH, CH, 3, 2, 1), nn.ReLU())
        self.down1 = nn.Conv2d(CH, CH, 3, 2, 1)
        self.down2 = nn.Conv2d(CH, CH, 3, 2, 1)

    def forward(self, x):
        p3 = self.stem(x)
        p4 = F.relu(self.down1(p3))
        return p3, p4, F.relu(self.down2(p4))


def head_cfg(type_name):
    return tiny_atss_head_cfg(
        type_name,
        num_classes=3,
        in_channels=CH,
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=dict(
            nms_pre=200,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=20))


def train_and_evaluate(type_name, iters=200, kernel_size=None):
    torch.manual_seed(0)
    features = TinyFeatures()
    cfg = head_cfg(type_name)
    if type_name.startswith('LanguageGuided'):
        cfg['embed_dims'] = D
        if kernel_size is not None:
            cfg['classifier'] = dict(kernel_size=kernel_size)
    torch.manual_seed(1)
    head = MODELS.build(ConfigDict(cfg))
    head.init_weights()
    text = F.normalize(
        torch.randn(3, D, generator=torch.Generator().manual_seed(5)), dim=1)

    def scope():
        if type_name.startswith('LanguageGuided'):
            return head.vocabulary(text)
        return torch.enable_grad()

    params = list(features.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(2)
    head.train()
    for _ in range(iters):
        images, samples = make_batch(4, gen)
        with scope():
            losses = head.loss(features(images), samples)
        loss = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                   for v in losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    head.eval()
    images, samples = make_batch(24, torch.Generator().manual_seed(99))
    with torch.no_grad(), scope():
        results = head.predict(features(images), samples, rescale=False)
    det_results, annotations = [], []
    for res, sample in zip(results, samples):
        dets = torch.cat([res.bboxes, res.scores[:, None]], 1).numpy()
        labels = res.labels.numpy()
        det_results.append([dets[labels == c] for c in range(3)])
        annotations.append(
            dict(
                bboxes=sample.gt_instances.bboxes.numpy(),
                labels=sample.gt_instances.labels.numpy()))
    mean_ap, _ = eval_map(
        det_results, annotations, iou_thr=0.5, logger='silent')
    return float(mean_ap)


@pytest.mark.slow
def test_language_guided_head_matches_stock_accuracy():
    stock = train_and_evaluate('ATSSHead')
    assert stock > 0.5, 'the task or schedule is too hard for the check'
    # The stock 3x3 kernel, and the 1x1 projection of the lg-* configs.
    for kernel_size in (3, 1):
        guided = train_and_evaluate(
            'LanguageGuidedATSSHead', kernel_size=kernel_size)
        print(f'AP50 stock ATSS {stock:.3f}, language-guided ATSS '
              f'({kernel_size}x{kernel_size} projection) {guided:.3f}')
        assert np.isfinite(guided)
        assert guided >= stock - 0.05
