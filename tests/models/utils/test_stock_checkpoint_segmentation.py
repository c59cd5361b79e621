"""Stock mmseg checkpoints load into their language-guided twins (FPN,
UPerNet with an auxiliary FCN head): every backbone, neck and shared head
weight in place, ``conv_seg`` reported, and the warm start reproducing the
stock logits."""
import copy
from unittest import mock

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmseg')

from mmseg.registry import MODELS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmseg'

IMG, D = 64, 16
CLASSES = ('sky', 'tree', 'road', 'building')
HOOK_LOG = 'mmvlm.models.utils.stock_checkpoint.print_log'
#: Largest logit difference accepted with ``normalize_visual=False``.
EXACT_TOL = 1e-3
#: With ``normalize_visual=True``: largest / mean difference relative to the
#: largest stock |logit|. Measured here (tiny random text encoder): FPN
#: 18 % / 2.2 % (stock logits up to 12.7), UPerNet 6 % / 0.3 %, its
#: auxiliary FCN head 1 % / 0.4 %. The arg-max class of every pixel of the
#: head's output is unchanged (each pixel's logits shrink by one positive
#: factor towards the shared bias).
NORMALIZED_MAX_REL_TOL = 0.25
NORMALIZED_MEAN_REL_TOL = 0.03

BACKBONE = dict(type='ResNetV1c',
                depth=18,
                stem_channels=8,
                base_channels=8,
                out_indices=(0, 1, 2, 3),
                norm_cfg=dict(type='BN'),
                style='pytorch')
FPN = dict(type='FPN',
           in_channels=[8, 16, 32, 64],
           out_channels=16,
           num_outs=4)
PREPROCESSOR = dict(type='SegDataPreProcessor',
                    mean=[128.0] * 3,
                    std=[64.0] * 3,
                    size=(IMG, IMG),
                    pad_val=0,
                    seg_pad_val=255)
KINDS = ('fpn', 'upernet')


def model_cfg(kind: str, language_guided: bool, **classifier) -> dict:
    prefix = 'LanguageGuided' if language_guided else ''
    common = dict(num_classes=len(CLASSES),
                  dropout_ratio=0.0,
                  align_corners=False)
    if kind == 'fpn':
        neck = FPN
        decode_head = dict(type=prefix + 'FPNHead',
                           in_channels=[16, 16, 16, 16],
                           in_index=[0, 1, 2, 3],
                           feature_strides=[4, 8, 16, 32],
                           channels=16,
                           norm_cfg=None,
                           **common)
        auxiliary_head = None
    else:
        neck = None
        decode_head = dict(type=prefix + 'UPerHead',
                           in_channels=[8, 16, 32, 64],
                           in_index=[0, 1, 2, 3],
                           pool_scales=(1, 2),
                           channels=16,
                           norm_cfg=dict(type='BN'),
                           **common)
        auxiliary_head = dict(type=prefix + 'FCNHead',
                              in_channels=32,
                              in_index=2,
                              channels=8,
                              num_convs=1,
                              concat_input=False,
                              norm_cfg=dict(type='BN'),
                              loss_decode=dict(type='CrossEntropyLoss',
                                               loss_weight=0.4),
                              **common)
    heads = [decode_head] + ([auxiliary_head] if auxiliary_head else [])
    if language_guided:
        neck = dict(type='LLMPrefixNeck',
                    neck=neck,
                    text_encoder=tiny_text_encoder_cfg('bert', embed_dims=D))
        for head in heads:
            head['embed_dims'] = D
            if classifier:
                head['classifier'] = dict(classifier)
    cfg = dict(type=prefix + 'EncoderDecoder',
               data_preprocessor=PREPROCESSOR,
               backbone=BACKBONE,
               neck=neck,
               decode_head=decode_head,
               test_cfg=dict(mode='whole'))
    if auxiliary_head:
        cfg['auxiliary_head'] = auxiliary_head
    return copy.deepcopy(cfg)


def build(cfg: dict, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def stock_model(kind: str) -> nn.Module:
    """A stock segmentor whose ``conv_seg`` layers look trained."""
    model = build(model_cfg(kind, False), seed=1)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith('conv_seg'):
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=gen) * 0.3)
                module.bias.copy_(torch.randn(module.bias.shape,
                                              generator=gen))
    return model


def logits(model: nn.Module, images: torch.Tensor, auxiliary=False):
    """Decode-head (or auxiliary-head) logits, before resizing."""
    with torch.no_grad():
        if not auxiliary:
            return model._forward(images)
        if hasattr(model, 'vocabulary_scope'):
            with model.vocabulary_scope([{}] * len(images), len(images)):
                return model.auxiliary_head(model.extract_feat(images))
        return model.auxiliary_head(model.extract_feat(images))


def stock_keys(kind):
    return [
        f'{head}.conv_seg.{p}'
        for head in (('decode_head',
                      'auxiliary_head') if kind == 'upernet' else (
                          'decode_head', )) for p in ('weight', 'bias')
    ]


@pytest.mark.parametrize('kind', KINDS)
def test_stock_state_dict_loads_every_shared_weight(kind):
    stock = stock_model(kind)
    lg = build(model_cfg(kind, True))
    with mock.patch(HOOK_LOG) as log:
        missing, unexpected = lg.load_state_dict(stock.state_dict(),
                                                 strict=False)
    assert unexpected == []
    allowed = ('neck.text_encoder.', 'decode_head.conv_seg.',
               'auxiliary_head.conv_seg.')
    assert [k for k in missing if not k.startswith(allowed)] == []
    lg_state = lg.state_dict()
    for key, value in stock.state_dict().items():
        if key in stock_keys(kind):
            continue
        new = 'neck.neck.' + key[5:] if key.startswith('neck.') else key
        assert torch.equal(lg_state[new], value), key
    assert log.call_count == 1
    message = log.call_args[0][0]
    for key in stock_keys(kind):
        assert key + ' [' in message
    assert 'replaced by the contrastive classifier' in message


@pytest.mark.parametrize('normalize_visual', [False, True])
@pytest.mark.parametrize('kind', KINDS)
def test_warm_start_reproduces_stock_logits(kind, normalize_visual):
    stock = stock_model(kind)
    lg = build(
        model_cfg(kind,
                  True,
                  warm_start=dict(classes=list(CLASSES)),
                  normalize_visual=normalize_visual))
    with mock.patch(HOOK_LOG) as log:
        missing, _ = lg.load_state_dict(stock.state_dict(), strict=False)
    assert [k for k in missing if not k.startswith('neck.text_encoder.')] == []
    assert log.call_args[1]['level'] == 20
    lg.set_vocabulary(list(CLASSES))
    images = torch.randn(2,
                         3,
                         IMG,
                         IMG,
                         generator=torch.Generator().manual_seed(7))
    for auxiliary in (False, True) if kind == 'upernet' else (False, ):
        expected = logits(stock, images, auxiliary)
        actual = logits(lg, images, auxiliary)
        assert actual.shape == expected.shape
        error = (actual - expected).abs()
        largest = expected.abs().max().item()
        if normalize_visual:
            assert error.max() <= NORMALIZED_MAX_REL_TOL * largest
            assert error.mean() <= NORMALIZED_MEAN_REL_TOL * largest
            assert torch.equal(actual.argmax(1), expected.argmax(1))
        else:
            assert error.max() <= EXACT_TOL


def test_language_guided_checkpoint_loads_as_before():
    lg = build(model_cfg('upernet', True, warm_start=True))
    twin = build(model_cfg('upernet', True, warm_start=True), seed=4)
    with mock.patch(HOOK_LOG) as log:
        result = twin.load_state_dict(lg.state_dict(), strict=True)
    assert list(result.missing_keys) == [] == list(result.unexpected_keys)
    log.assert_not_called()


@pytest.mark.parametrize('variant', ['binary', 'learnable_background'])
def test_warm_start_of_binary_and_learned_background_heads(variant):
    """A binary head's one sigmoid channel is solved on the foreground
    prompt; a learned background embedding is solved as the background
    class's row."""
    if variant == 'binary':
        classes = ['background', 'polyp']
        head = dict(num_classes=2,
                    out_channels=1,
                    threshold=0.5,
                    loss_decode=dict(type='CrossEntropyLoss',
                                     use_sigmoid=True))
        extra = {}
    else:
        classes = ['background', 'liver', 'spleen']
        head = dict(num_classes=3)
        extra = dict(learnable_background=True)
    stock_cfg = model_cfg('fpn', False)
    stock_cfg['decode_head'].update(head)
    torch.manual_seed(1)
    stock = build(stock_cfg, seed=1)
    with torch.no_grad():
        stock.decode_head.conv_seg.weight.normal_(std=0.3)
        stock.decode_head.conv_seg.bias.normal_()
    cfg = model_cfg('fpn',
                    True,
                    warm_start=dict(classes=classes),
                    normalize_visual=False)
    cfg['decode_head'].update(head, **extra)
    lg = build(cfg)
    with mock.patch(HOOK_LOG):
        lg.load_state_dict(stock.state_dict(), strict=False)
    lg.set_vocabulary(classes)
    images = torch.randn(2, 3, IMG, IMG)
    error = (logits(lg, images) - logits(stock, images)).abs().max()
    assert error <= EXACT_TOL
