"""mmvlm.apis.stock_checkpoint and its command line
tools/model_converters/stock_to_language_guided.py: a stock checkpoint
becomes a language-guided one, warm started, with a report."""
import copy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.runner import load_checkpoint, save_checkpoint  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.apis import stock_to_language_guided  # noqa: E402
from mmvlm.apis.stock_checkpoint import (
    format_report,  # noqa: E402
    scored_entries)
from mmvlm.testing import (
    TINY_ATSS_TRAIN_CFG,
    tiny_atss_head_cfg,  # noqa: E402
    tiny_text_encoder_cfg)

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'model_converters' / 'stock_to_language_guided.py'
IMG, D, CH = 64, 16, 16
CLASSES = ('person', 'dog', 'car')
FPN = dict(type='FPN',
           in_channels=[8, 16, 32, 64],
           out_channels=CH,
           start_level=1,
           add_extra_convs='on_output',
           num_outs=3)
HOOK_LOG = 'mmvlm.models.utils.stock_checkpoint.print_log'


def model_cfg(language_guided: bool) -> dict:
    head = 'LanguageGuidedATSSHead' if language_guided else 'ATSSHead'
    cfg = dict(type='LanguageGuidedDetector' if language_guided else 'ATSS',
               data_preprocessor=dict(type='DetDataPreprocessor',
                                      mean=[123.675, 116.28, 103.53],
                                      std=[58.395, 57.12, 57.375],
                                      pad_size_divisor=32),
               backbone=dict(type='ResNet',
                             depth=18,
                             base_channels=8,
                             num_stages=4,
                             out_indices=(0, 1, 2, 3),
                             norm_cfg=dict(type='BN', requires_grad=True),
                             style='pytorch'),
               neck=FPN,
               bbox_head=tiny_atss_head_cfg(head, len(CLASSES), CH),
               train_cfg=TINY_ATSS_TRAIN_CFG,
               test_cfg=dict(nms_pre=200,
                             min_bbox_size=0,
                             score_thr=0.0,
                             nms=dict(type='nms', iou_threshold=0.6),
                             max_per_img=30))
    if language_guided:
        cfg['neck'] = dict(type='LLMPrefixNeck',
                           neck=FPN,
                           text_encoder=tiny_text_encoder_cfg('bert',
                                                              embed_dims=D))
        cfg['bbox_head']['embed_dims'] = D
    return copy.deepcopy(cfg)


def lg_config(**extra) -> Config:
    return Config(
        dict(model=model_cfg(True),
             default_scope='mmdet',
             custom_imports=dict(imports=['mmvlm'],
                                 allow_failed_imports=False),
             **extra))


def build(cfg: dict, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    return model.eval()


@pytest.fixture
def stock_checkpoint(tmp_path):
    """A stock ATSS checkpoint (class layer randomised as if trained) with
    its dataset classes in the meta, as mmengine writes it."""
    stock = build(model_cfg(False), seed=1)
    with torch.no_grad():
        stock.bbox_head.atss_cls.weight.normal_(std=0.3)
        stock.bbox_head.atss_cls.bias.normal_(mean=-2)
    path = tmp_path / 'stock.pth'
    save_checkpoint(
        dict(state_dict=stock.state_dict(),
             meta=dict(dataset_meta=dict(classes=CLASSES))), str(path))
    return stock, path


def class_logits(model, images, vocabulary=None):
    if vocabulary is not None:
        model.set_vocabulary(vocabulary)
    meta = dict(img_shape=(IMG, IMG), batch_input_shape=(IMG, IMG))
    samples = [DetDataSample(metainfo=meta) for _ in images]
    with torch.no_grad():
        return torch.cat(
            [x.flatten() for x in model._forward(images, samples)[0]])


def test_convert_reports_and_reproduces_the_stock_model(
        stock_checkpoint, tmp_path):
    stock, path = stock_checkpoint
    out = tmp_path / 'lg.pth'
    torch.manual_seed(0)  # the tiny LM is random and not in checkpoints
    with mock.patch(HOOK_LOG):
        report = stock_to_language_guided(lg_config(), str(path), str(out))
    num_neck = len(stock.neck.state_dict())
    assert len(report['neck_keys_mapped']) == num_neck
    assert set(report['stock_tensors']) == {
        'bbox_head.atss_cls.weight', 'bbox_head.atss_cls.bias'
    }
    assert all('solved' in how for how in report['stock_tensors'].values())
    assert report['classes'] == list(CLASSES)  # from the checkpoint meta
    assert report['unexpected_keys'] == []
    assert [
        k for k in report['missing_keys']
        if not k.startswith('neck.text_encoder.')
    ] == []
    assert 'atss_cls.weight: solved' in format_report(report)

    # the written checkpoint is in the language-guided layout
    lg = build(model_cfg(True), seed=0)
    with mock.patch(HOOK_LOG) as log:
        ckpt = load_checkpoint(lg, str(out), strict=True)
    log.assert_not_called()
    assert ckpt['meta']['dataset_meta']['classes'] == CLASSES
    images = torch.randn(2,
                         3,
                         IMG,
                         IMG,
                         generator=torch.Generator().manual_seed(7))
    expected = class_logits(stock, images)
    actual = class_logits(lg, images, list(CLASSES))
    # default normalize_visual=True: approximate (see
    # tests/models/utils/test_stock_checkpoint_detection.py)
    assert (actual - expected).abs().max() <= 0.2 * expected.abs().max()


def test_without_warm_start_the_stock_layer_is_reported(
        stock_checkpoint, tmp_path):
    _, path = stock_checkpoint
    with mock.patch(HOOK_LOG):
        report = stock_to_language_guided(lg_config(),
                                          str(path),
                                          str(tmp_path / 'lg.pth'),
                                          warm_start=False)
    assert all('not loaded' in how for how in report['stock_tensors'].values())
    assert 'bbox_head.atss_cls.embed.weight' in report['missing_keys']


def test_names_go_through_the_config_load_class_texts():
    cfg = lg_config(test_pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadClassTexts', templates=['a photo of a {}.'])
    ])
    assert scored_entries(cfg, ['traffic_light', 'dog']) == [
        'a photo of a traffic light.', 'a photo of a dog.'
    ]
    assert scored_entries(lg_config(), ['traffic_light']) == ['traffic_light']


def test_command_line(stock_checkpoint, tmp_path):
    _, path = stock_checkpoint
    config = tmp_path / 'lg_config.py'
    lg_config().dump(str(config))
    out = tmp_path / 'lg.pth'
    proc = subprocess.run([
        sys.executable,
        str(TOOL),
        str(config),
        str(path),
        str(out), '--classes', *CLASSES
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert 'bbox_head.atss_cls.bias: solved' in proc.stdout
    assert out.exists()
    proc = subprocess.run([
        sys.executable,
        str(TOOL),
        str(config),
        str(path),
        str(out), '--classes', 'a', 'b'
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)
    assert proc.returncode != 0
    assert '2 class names' in proc.stderr
