"""Stock mmdet checkpoints load into their language-guided twins (ATSS,
RetinaNet, FCOS, Faster R-CNN): every backbone, neck and shared head weight
in place, the replaced class layer reported, and the warm start reproducing
the stock logits."""
import copy
from unittest import mock

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.runner import load_checkpoint, save_checkpoint  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.models.utils import warm_start_from_stock  # noqa: E402
from mmvlm.testing import (
    TINY_ATSS_TRAIN_CFG,
    tiny_atss_head_cfg,  # noqa: E402
    tiny_bbox_head_cfg,
    tiny_text_encoder_cfg)

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'

IMG, D, CH = 64, 16, 16
CLASSES = ('person', 'dog', 'car')
HOOK_LOG = 'mmvlm.models.utils.stock_checkpoint.print_log'
#: Largest logit difference accepted with ``normalize_visual=False``
#: (exact up to float32 rounding).
EXACT_TOL = 1e-3
#: With the default ``normalize_visual=True`` the warm start is
#: approximate. Measured here (tiny random text encoder, class embeddings
#: at cosine 0.95-0.98, stock logits up to 6.7): largest difference 15 % of
#: the largest stock |logit| (ATSS, FCOS; 0.4 % RetinaNet, 1.2 % Faster
#: R-CNN), mean difference 0.6 % of it.
NORMALIZED_MAX_REL_TOL = 0.2
NORMALIZED_MEAN_REL_TOL = 0.01

BACKBONE = dict(type='ResNet',
                depth=18,
                base_channels=8,
                num_stages=4,
                out_indices=(0, 1, 2, 3),
                norm_cfg=dict(type='BN', requires_grad=True),
                norm_eval=False,
                style='pytorch')
FPN = dict(type='FPN',
           in_channels=[8, 16, 32, 64],
           out_channels=CH,
           start_level=1,
           add_extra_convs='on_output',
           num_outs=3)
PREPROCESSOR = dict(type='DetDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True,
                    pad_size_divisor=32)
NMS_CFG = dict(nms_pre=200,
               min_bbox_size=0,
               score_thr=0.0,
               nms=dict(type='nms', iou_threshold=0.6),
               max_per_img=30)
FOCAL = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25)
CODER = dict(type='DeltaXYWHBBoxCoder',
             target_means=[.0, .0, .0, .0],
             target_stds=[0.1, 0.1, 0.2, 0.2])


def dense_head(kind: str, language_guided: bool) -> dict:
    prefix = 'LanguageGuided' if language_guided else ''
    if kind == 'atss':
        cfg = tiny_atss_head_cfg(prefix + 'ATSSHead', len(CLASSES), CH)
    elif kind == 'retinanet':
        cfg = dict(type=prefix + 'RetinaHead',
                   num_classes=len(CLASSES),
                   in_channels=CH,
                   feat_channels=CH,
                   stacked_convs=1,
                   anchor_generator=dict(type='AnchorGenerator',
                                         octave_base_scale=4,
                                         scales_per_octave=1,
                                         ratios=[0.5, 1.0, 2.0],
                                         strides=[8, 16, 32]),
                   bbox_coder=CODER,
                   loss_cls=FOCAL,
                   loss_bbox=dict(type='L1Loss'))
    else:
        cfg = dict(type=prefix + 'FCOSHead',
                   num_classes=len(CLASSES),
                   in_channels=CH,
                   feat_channels=CH,
                   stacked_convs=1,
                   strides=[8, 16, 32],
                   norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
                   loss_cls=FOCAL,
                   loss_bbox=dict(type='IoULoss'),
                   loss_centerness=dict(type='CrossEntropyLoss',
                                        use_sigmoid=True))
    if language_guided:
        cfg['embed_dims'] = D
    return cfg


def two_stage(language_guided: bool) -> dict:
    bbox_head = tiny_bbox_head_cfg(len(CLASSES), CH)
    if language_guided:
        bbox_head['embed_dims'] = D
    else:
        bbox_head.update(type='Shared2FCBBoxHead', reg_class_agnostic=False)
    assigner = dict(type='MaxIoUAssigner',
                    pos_iou_thr=0.5,
                    neg_iou_thr=0.5,
                    min_pos_iou=0.5,
                    ignore_iof_thr=-1)
    sampler = dict(type='RandomSampler', num=64, pos_fraction=0.25)
    proposals = dict(nms_pre=200,
                     max_per_img=50,
                     nms=dict(type='nms', iou_threshold=0.7),
                     min_bbox_size=0)
    return dict(
        rpn_head=dict(type='RPNHead',
                      in_channels=CH,
                      feat_channels=CH,
                      anchor_generator=dict(type='AnchorGenerator',
                                            scales=[4],
                                            ratios=[0.5, 1.0, 2.0],
                                            strides=[8, 16, 32]),
                      bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                                      target_means=[.0, .0, .0, .0],
                                      target_stds=[1.0, 1.0, 1.0, 1.0]),
                      loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
                      loss_bbox=dict(type='L1Loss')),
        roi_head=dict(type=('LanguageGuidedStandardRoIHead'
                            if language_guided else 'StandardRoIHead'),
                      bbox_roi_extractor=dict(type='SingleRoIExtractor',
                                              roi_layer=dict(type='RoIAlign',
                                                             output_size=7,
                                                             sampling_ratio=0),
                                              out_channels=CH,
                                              featmap_strides=[8, 16, 32]),
                      bbox_head=bbox_head),
        train_cfg=dict(rpn=dict(assigner=dict(assigner,
                                              pos_iou_thr=0.7,
                                              neg_iou_thr=0.3),
                                sampler=dict(sampler, pos_fraction=0.5),
                                allowed_border=-1,
                                pos_weight=-1,
                                debug=False),
                       rpn_proposal=proposals,
                       rcnn=dict(assigner=assigner,
                                 sampler=sampler,
                                 pos_weight=-1,
                                 debug=False)),
        test_cfg=dict(rpn=proposals,
                      rcnn=dict(score_thr=0.0,
                                nms=dict(type='nms', iou_threshold=0.5),
                                max_per_img=30)))


KINDS = ('atss', 'retinanet', 'fcos', 'faster-rcnn')
STOCK_TYPES = dict(atss='ATSS',
                   retinanet='RetinaNet',
                   fcos='FCOS',
                   **{'faster-rcnn': 'FasterRCNN'})
#: The stock class layer of each kind, by its key prefix.
CLASS_LAYER = dict(atss='bbox_head.atss_cls',
                   retinanet='bbox_head.retina_cls',
                   fcos='bbox_head.conv_cls',
                   **{'faster-rcnn': 'roi_head.bbox_head.fc_cls'})


def model_cfg(kind: str, language_guided: bool, **classifier) -> dict:
    cfg = dict(data_preprocessor=PREPROCESSOR, backbone=BACKBONE)
    if language_guided:
        cfg['neck'] = dict(type='LLMPrefixNeck',
                           neck=FPN,
                           text_encoder=tiny_text_encoder_cfg('bert',
                                                              embed_dims=D))
    else:
        cfg['neck'] = FPN
    if kind == 'faster-rcnn':
        cfg.update(two_stage(language_guided))
        cfg['type'] = ('LanguageGuidedTwoStageDetector'
                       if language_guided else 'FasterRCNN')
        head = cfg['roi_head']['bbox_head']
    else:
        cfg.update(type='LanguageGuidedDetector'
                   if language_guided else STOCK_TYPES[kind],
                   bbox_head=dense_head(kind, language_guided),
                   train_cfg=TINY_ATSS_TRAIN_CFG if kind == 'atss' else dict(
                       assigner=dict(type='MaxIoUAssigner',
                                     pos_iou_thr=0.5,
                                     neg_iou_thr=0.4,
                                     min_pos_iou=0,
                                     ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'),
                       allowed_border=-1,
                       pos_weight=-1,
                       debug=False),
                   test_cfg=NMS_CFG)
        head = cfg['bbox_head']
    if language_guided and classifier:
        head['classifier'] = dict(head.get('classifier') or {}, **classifier)
    return copy.deepcopy(cfg)


def build(cfg: dict, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    return model.eval()


def stock_model(kind: str) -> nn.Module:
    """A stock model whose class layer looks trained (logits spread over a
    few units around a negative bias), so the warm start is tested on more
    than a constant prior."""
    model = build(model_cfg(kind, False), seed=1)
    layer = model.get_submodule(CLASS_LAYER[kind])
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=gen) * 0.3)
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) - 2)
    return model


def samples(num: int = 2):
    meta = dict(img_shape=(IMG, IMG),
                ori_shape=(IMG, IMG),
                pad_shape=(IMG, IMG),
                batch_input_shape=(IMG, IMG),
                scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=dict(meta)) for _ in range(num)]


def class_logits(model: nn.Module, kind: str, images: torch.Tensor):
    """The class logits of the tensor-mode forward, flattened."""
    with torch.no_grad():
        out = model._forward(images, samples(images.shape[0]))
    if kind == 'faster-rcnn':
        return out[-1][0].flatten()
    return torch.cat([level.flatten() for level in out[0]])


@pytest.mark.parametrize('kind', KINDS)
def test_stock_state_dict_loads_every_shared_weight(kind):
    stock = stock_model(kind)
    lg = build(model_cfg(kind, True))
    with mock.patch(HOOK_LOG) as log:
        missing, unexpected = lg.load_state_dict(stock.state_dict(),
                                                 strict=False)
    assert unexpected == []
    layer = CLASS_LAYER[kind]
    allowed = ('neck.text_encoder.', layer + '.')
    if kind == 'faster-rcnn':  # class-specific stock regressor
        allowed += ('roi_head.bbox_head.fc_reg.', )
    assert [k for k in missing if not k.startswith(allowed)] == []
    lg_state = lg.state_dict()
    for key, value in stock.state_dict().items():
        if key.startswith(allowed[1:]):
            continue
        new = 'neck.neck.' + key[5:] if key.startswith('neck.') else key
        assert torch.equal(lg_state[new], value), key
    # one line names exactly the stock tensors not loaded, and why
    assert log.call_count == 1
    message = log.call_args[0][0]
    assert f'{layer}.weight [' in message and f'{layer}.bias [' in message
    assert 'replaced by the contrastive classifier' in message
    assert 'warm_start=True' in message
    assert 'size mismatch' not in message
    assert log.call_args[1]['level'] == 30  # WARNING


@pytest.mark.parametrize('kind', KINDS)
def test_language_guided_checkpoint_loads_as_before(kind):
    lg = build(model_cfg(kind, True, warm_start=dict(classes=CLASSES)))
    twin = build(model_cfg(kind, True, warm_start=dict(classes=CLASSES)),
                 seed=5)
    with mock.patch(HOOK_LOG) as log:
        result = twin.load_state_dict(lg.state_dict(), strict=True)
    assert list(result.missing_keys) == [] == list(result.unexpected_keys)
    log.assert_not_called()
    for key, value in lg.state_dict().items():
        assert torch.equal(twin.state_dict()[key], value), key


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
    assert 'warm start' in log.call_args[0][0]
    assert log.call_args[1]['level'] == 20  # INFO: nothing left unused
    images = torch.randn(2,
                         3,
                         IMG,
                         IMG,
                         generator=torch.Generator().manual_seed(7))
    lg.set_vocabulary(list(CLASSES))
    expected = class_logits(stock, kind, images)
    actual = class_logits(lg, kind, images)
    assert actual.shape == expected.shape
    error = (actual - expected).abs()
    largest = expected.abs().max().item()
    if normalize_visual:
        assert error.max() <= NORMALIZED_MAX_REL_TOL * largest
        assert error.mean() <= NORMALIZED_MEAN_REL_TOL * largest
    else:
        assert error.max() <= EXACT_TOL


def test_warm_start_needs_matching_class_names_and_kernel():
    stock = stock_model('atss')
    lg = build(model_cfg('atss', True, warm_start=dict(classes=['a', 'b'])))
    with pytest.raises(ValueError, match='3 outputs but 2 class names'):
        lg.load_state_dict(stock.state_dict(), strict=False)
    lg = build(
        model_cfg('atss',
                  True,
                  warm_start=dict(classes=CLASSES),
                  kernel_size=1))
    with pytest.raises(ValueError, match='kernel_size=3'):
        lg.load_state_dict(stock.state_dict(), strict=False)
    lg = build(model_cfg('atss', True, warm_start=True))
    with pytest.raises(ValueError, match="stock model's class names"):
        lg.load_state_dict(stock.state_dict(), strict=False)


def test_warm_start_on_demand_and_from_dataset_classes():
    stock = stock_model('atss')
    lg = build(model_cfg('atss', True))
    with mock.patch(HOOK_LOG):
        lg.load_state_dict(stock.state_dict(), strict=False)
    lg.dataset_meta = dict(classes=CLASSES)
    used = warm_start_from_stock(lg)
    assert set(used) == {
        'bbox_head.atss_cls.weight', 'bbox_head.atss_cls.bias'
    }
    images = torch.randn(1, 3, IMG, IMG)
    lg.set_vocabulary(list(CLASSES))
    expected = class_logits(stock, 'atss', images)
    error = (class_logits(lg, 'atss', images) - expected).abs().max()
    assert error <= NORMALIZED_MAX_REL_TOL * expected.abs().max()


def test_load_checkpoint_and_pretrained_init_cfg(tmp_path):
    """The paths mmengine takes: ``load_from`` / ``--resume``
    (``load_checkpoint``) and ``init_cfg=dict(type='Pretrained')``."""
    stock = stock_model('atss')
    path = str(tmp_path / 'stock.pth')
    save_checkpoint(dict(state_dict=stock.state_dict()), path)
    fpn_key = 'neck.lateral_convs.0.conv.weight'
    lg = build(model_cfg('atss', True, warm_start=dict(classes=CLASSES)))
    with mock.patch(HOOK_LOG) as log:
        load_checkpoint(lg, path, map_location='cpu')
    assert log.call_count == 1
    assert torch.equal(lg.neck.neck.lateral_convs[0].conv.weight,
                       stock.state_dict()[fpn_key])
    cfg = model_cfg('atss', True)
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=path)
    with mock.patch(HOOK_LOG) as log:
        lg = build(cfg)
    assert log.call_count == 1
    assert torch.equal(lg.neck.neck.lateral_convs[0].conv.weight,
                       stock.state_dict()[fpn_key])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('kind', ['atss', 'faster-rcnn'])
def test_warm_start_of_a_model_on_the_gpu(kind):
    """A CPU checkpoint (``map_location='cpu'``) into a model on the GPU."""
    stock = stock_model(kind)
    lg = build(
        model_cfg(kind,
                  True,
                  warm_start=dict(classes=CLASSES),
                  normalize_visual=False)).cuda()
    with mock.patch(HOOK_LOG):
        lg.load_state_dict(stock.state_dict(), strict=False)
    images = torch.randn(2, 3, IMG, IMG)
    expected = class_logits(stock, kind, images)
    lg.set_vocabulary(list(CLASSES))
    actual = class_logits(lg, kind, images.cuda()).cpu()
    assert (actual - expected).abs().max() <= EXACT_TOL


def test_normalized_warm_start_keeps_the_score_order_of_one_class():
    """With one class (the tree-crown demo) the normalised warm start is a
    monotone map of the stock logit: the detections rank as the stock
    model's, so AP is the stock one up to the score threshold."""
    stock_cfg = model_cfg('atss', False)
    stock_cfg['bbox_head']['num_classes'] = 1
    stock = build(stock_cfg, seed=1)
    with torch.no_grad():
        stock.bbox_head.atss_cls.weight.normal_(std=0.3)
        stock.bbox_head.atss_cls.bias.fill_(-3.0)
    cfg = model_cfg('atss', True, warm_start=dict(classes=['tree']))
    cfg['bbox_head']['num_classes'] = 1
    lg = build(cfg)
    with mock.patch(HOOK_LOG):
        lg.load_state_dict(stock.state_dict(), strict=False)
    lg.set_vocabulary(['tree'])
    images = torch.randn(2, 3, IMG, IMG)
    expected = class_logits(stock, 'atss', images)
    actual = class_logits(lg, 'atss', images)
    # in the stock order, the warm-started logits never decrease (up to
    # float rounding)
    assert (actual[expected.argsort()].diff() >= -1e-5).all()
    assert not torch.allclose(actual, expected)  # the scores do change


def test_warm_start_option_is_checked():
    from mmvlm.models.layers import ContrastiveClassifier
    assert ContrastiveClassifier(8, 4, warm_start=True).warm_start == {}
    assert ContrastiveClassifier(8, 4).warm_start is None
    with pytest.raises(ValueError, match='Unknown warm_start keys'):
        ContrastiveClassifier(8, 4, warm_start=dict(class_names=['a']))
    with pytest.raises(TypeError, match='bool or dict'):
        ContrastiveClassifier(8, 4, warm_start='CocoDataset')
