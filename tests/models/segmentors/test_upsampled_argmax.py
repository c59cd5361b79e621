"""upsampled_argmax: the stock post-processing's label maps, bit for bit."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmseg')

from mmengine.registry import DefaultScope  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.models.segmentors.upsampled_argmax import (  # noqa: E402
    upsampled_argmax)
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

register_all_modules(init_default_scope=False)

# (pad_shape, metainfo): no padding; padding + horizontal flip + a second
# resize to a smaller ori_shape; padding on the other sides + vertical flip
# + a larger ori_shape; the bare prediction (ori_shape = input).
METAS = [
    ((128, 96),
     dict(ori_shape=(128, 96), padding_size=[0, 0, 0, 0], flip=False)),
    ((128, 96),
     dict(ori_shape=(100, 70),
          padding_size=[0, 6, 0, 20],
          flip=True,
          flip_direction='horizontal')),
    ((128, 96),
     dict(ori_shape=(150, 121),
          img_padding_size=[4, 0, 8, 0],
          flip=True,
          flip_direction='vertical')),
]


@pytest.fixture(scope='module')
def model():
    with DefaultScope.overwrite_default_scope('mmseg'):
        torch.manual_seed(0)
        cfg = dict(type='LanguageGuidedEncoderDecoder',
                   backbone=dict(type='ResNetV1c',
                                 depth=18,
                                 stem_channels=8,
                                 base_channels=8,
                                 out_indices=(0, 1, 2, 3),
                                 norm_cfg=dict(type='BN'),
                                 style='pytorch'),
                   neck=dict(type='LLMPrefixNeck',
                             neck=dict(type='FPN',
                                       in_channels=[8, 16, 32, 64],
                                       out_channels=16,
                                       num_outs=4),
                             text_encoder=tiny_text_encoder_cfg(
                                 'bert', embed_dims=16)),
                   decode_head=dict(type='LanguageGuidedFPNHead',
                                    in_channels=[16, 16, 16, 16],
                                    in_index=[0, 1, 2, 3],
                                    feature_strides=[4, 8, 16, 32],
                                    channels=16,
                                    num_classes=3,
                                    embed_dims=16,
                                    dropout_ratio=0.0,
                                    norm_cfg=None,
                                    align_corners=False),
                   vocabulary=['a', 'b', 'c'],
                   test_cfg=dict(mode='whole'))
        yield MODELS.build(cfg).eval()


def samples(pad_shape, meta, batch):
    out = []
    for _ in range(batch):
        s = SegDataSample()
        s.set_metainfo(dict(meta, img_shape=pad_shape, pad_shape=pad_shape))
        out.append(s)
    return out


def stock_labels(model, logits, pad_shape, meta):
    """Today's chain: head resize (channels-last), crop, flip, resize,
    arg-max over every class at full resolution."""
    data = samples(pad_shape, meta, logits.shape[0])
    full = model.decode_head.predict_by_feat(logits,
                                             [s.metainfo for s in data])
    return [r.pred_sem_seg.data for r in model.postprocess_result(full, data)]


def smooth_logits(batch, classes, size, seed):
    """Logits as a decode head makes them: a few classes dominate regions,
    the rest are close (spatially smooth, many near-ties of the runners-up).
    """
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(batch, classes, size[0] // 8, size[1] // 8,
                         generator=gen) * 3
    logits = F.interpolate(coarse, size=size, mode='bilinear')
    return logits + 0.05 * torch.randn(logits.shape, generator=gen)


@pytest.mark.parametrize('pad_shape,meta', METAS)
@pytest.mark.parametrize('kind', ['random', 'smooth', 'ties'])
def test_same_labels_as_the_stock_post_processing_847_classes(
        model, pad_shape, meta, kind):
    size = (pad_shape[0] // 4, pad_shape[1] // 4)
    if kind == 'random':
        logits = torch.randn(2, 847, *size, generator=torch.Generator(
        ).manual_seed(0))
    else:
        logits = smooth_logits(2, 847, size, seed=1)
    if kind == 'ties':
        # exact ties: class 700 copies class 5 (lowest id must win), and
        # class 846 (the tail block) copies the winner of image 0
        logits[:, 700] = logits[:, 5]
        logits[:, 5] += 10
        logits[:, 700] += 10
        logits[0, 846] = logits[0].max(dim=0).values
    logits = logits.contiguous(memory_format=torch.channels_last)
    expected = stock_labels(model, logits, pad_shape, meta)
    ours = model.postprocess_low_res_result(
        logits, samples(pad_shape, meta, logits.shape[0]))
    for result, labels in zip(ours, expected):
        assert result.pred_sem_seg.data.shape == labels.shape
        assert torch.equal(result.pred_sem_seg.data, labels)
        assert result.seg_logits.data.shape == (847, *size)
    if kind == 'ties':
        assert not (expected[0] == 700).any()
        assert (expected[0] == 5).any()


def test_only_a_few_classes_are_resized_for_smooth_logits():
    """The point of it: the full-resolution work does not scale with K."""
    logits = smooth_logits(1, 847, (32, 24), seed=2)[0]
    calls = []

    def to_full(x):
        calls.append(x.shape[0])
        out = F.interpolate(
            x[None].contiguous(memory_format=torch.channels_last),
            size=(128, 96),
            mode='bilinear')
        return out[0]

    labels = upsampled_argmax(logits, to_full)
    assert torch.equal(labels, to_full(logits).argmax(dim=0))
    resized = sum(calls[:-1])  # the last call is the check above
    assert resized < 847 // 3, calls


def test_predict_low_res_equals_full_with_a_large_vocabulary(model):
    vocabulary = [f'class {i}' for i in range(300)]
    model.set_vocabulary(vocabulary)
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 64, 64)
    try:
        with torch.no_grad():
            model.test_cfg['seg_logits'] = 'full'
            full = model.predict(inputs)
            model.test_cfg['seg_logits'] = 'auto'  # 300 > 256: low
            low = model.predict(inputs)
            model.test_cfg['seg_logits'] = 'wrong'
            with pytest.raises(ValueError, match='seg_logits'):
                model.predict(inputs)
    finally:
        model.test_cfg['seg_logits'] = 'auto'
        model.set_vocabulary(None)
    for a, b in zip(full, low):
        assert a.seg_logits.data.shape == (300, 64, 64)
        assert b.seg_logits.data.shape == (300, 16, 16)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
