"""A language-guided head learns a tiny task as well as the stock head.

Synthetic task: random-noise background, a red square and a blue disk at
random places (3 classes). The stock FPN segmentor and the language-guided
one (same backbone, same inner FPN, same seed, same optimiser, equal
iterations) are trained, then scored with the stock IoUMetric on held-out
images.
"""
import pytest
from mmengine.registry import DefaultScope
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData

pytest.importorskip('mmseg')

from mmseg.evaluation import IoUMetric  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build in mmseg's scope, and leave the process's scope as it was."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


IMG = 48
CLASSES = ('background', 'red square', 'blue disk')
ITERS = 100


def synthetic_batch(generator: torch.Generator, batch: int):
    """Images ``[B, 3, H, W]`` (0..255) and label maps ``[B, H, W]``."""
    imgs = torch.rand(batch, 3, IMG, IMG, generator=generator) * 120 + 60
    labels = torch.zeros(batch, IMG, IMG, dtype=torch.long)
    yy, xx = torch.meshgrid(torch.arange(IMG),
                            torch.arange(IMG),
                            indexing='ij')
    for b in range(batch):
        y, x, s = torch.randint(0, IMG - 16, (3, ), generator=generator)
        s = int(s) % 8 + 8
        labels[b, y:y + s, x:x + s] = 1
        cy, cx = torch.randint(8, IMG - 8, (2, ), generator=generator)
        disk = (yy - cy)**2 + (xx - cx)**2 <= 36
        labels[b][disk] = 2
    red = labels == 1
    blue = labels == 2
    imgs[:, 0][red], imgs[:, 1][red], imgs[:, 2][red] = 220., 30., 30.
    imgs[:, 0][blue], imgs[:, 1][blue], imgs[:, 2][blue] = 30., 30., 220.
    return imgs, labels


def samples(labels):
    out = []
    for label in labels:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label[None].clone())
        s.set_metainfo(
            dict(img_shape=(IMG, IMG),
                 ori_shape=(IMG, IMG),
                 pad_shape=(IMG, IMG),
                 padding_size=[0, 0, 0, 0]))
        out.append(s)
    return out


def segmentor_cfg(language_guided: bool) -> dict:
    fpn = dict(type='FPN',
               in_channels=[8, 16, 32, 64],
               out_channels=16,
               num_outs=4)
    head = dict(type='FPNHead',
                in_channels=[16] * 4,
                in_index=[0, 1, 2, 3],
                feature_strides=[4, 8, 16, 32],
                channels=16,
                num_classes=len(CLASSES),
                dropout_ratio=0.0,
                norm_cfg=dict(type='BN'),
                align_corners=False)
    cfg = dict(type='EncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      mean=[128.] * 3,
                                      std=[64.] * 3,
                                      size=(IMG, IMG)),
               backbone=dict(type='ResNetV1c',
                             depth=18,
                             stem_channels=8,
                             base_channels=8,
                             out_indices=(0, 1, 2, 3),
                             norm_cfg=dict(type='BN')),
               neck=fpn,
               decode_head=head,
               test_cfg=dict(mode='whole'))
    if language_guided:
        cfg.update(type='LanguageGuidedEncoderDecoder',
                   vocabulary=list(CLASSES),
                   neck=dict(type='LLMPrefixNeck',
                             neck=fpn,
                             text_encoder=tiny_text_encoder_cfg(
                                 'bert', embed_dims=16)))
        head.update(type='LanguageGuidedFPNHead', embed_dims=16)
    return cfg


def train_and_score(language_guided: bool) -> float:
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(segmentor_cfg(language_guided)))
    model.init_weights()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-2, weight_decay=1e-4)
    data = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(ITERS):
        imgs, labels = synthetic_batch(data, 4)
        batch = model.data_preprocessor(
            dict(inputs=list(imgs), data_samples=samples(labels)), True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=CLASSES)
    held_out = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for _ in range(3):
            imgs, labels = synthetic_batch(held_out, 4)
            batch = model.data_preprocessor(
                dict(inputs=list(imgs), data_samples=samples(labels)), False)
            preds = model.predict(batch['inputs'], batch['data_samples'])
            metric.process([], [p.to_dict() for p in preds])
    return metric.compute_metrics(metric.results)['mIoU']


def test_language_guided_head_reaches_stock_miou():
    stock = train_and_score(False)
    guided = train_and_score(True)
    print(f'mIoU after {ITERS} iterations: stock {stock:.2f}, '
          f'language-guided {guided:.2f}')
    assert stock > 35.0, stock  # above all-background (~29)
    assert guided >= stock - 3.0, (guided, stock)
