"""LanguageGuidedModelMixin: detectors and segmentors accept the same
vocabulary spellings with the same meaning, and share one run-time override
(``set_vocabulary``) that wins over the samples' ``text`` at inference."""
import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.models.utils import LanguageGuidedModelMixin  # noqa: E402
from mmvlm.structures import Vocabulary  # noqa: E402
from mmvlm.testing import (
    TINY_ATSS_TRAIN_CFG,
    tiny_atss_head_cfg,  # noqa
    tiny_text_encoder_cfg)

IMG, D = 64, 16

RESNET = dict(depth=18,
              base_channels=8,
              out_indices=(0, 1, 2, 3),
              norm_cfg=dict(type='BN', requires_grad=True),
              style='pytorch')


def detector():
    cfg = dict(type='LanguageGuidedDetector',
               data_preprocessor=dict(type='DetDataPreprocessor',
                                      mean=[128.0] * 3,
                                      std=[64.0] * 3,
                                      pad_size_divisor=32),
               backbone=dict(type='ResNet', num_stages=4, **RESNET),
               neck=dict(type='LLMPrefixNeck',
                         neck=dict(type='FPN',
                                   in_channels=[8, 16, 32, 64],
                                   out_channels=16,
                                   start_level=1,
                                   add_extra_convs='on_output',
                                   num_outs=3),
                         text_encoder=tiny_text_encoder_cfg('bert',
                                                            embed_dims=D)),
               bbox_head=tiny_atss_head_cfg(num_classes=80,
                                            in_channels=16,
                                            embed_dims=D),
               train_cfg=TINY_ATSS_TRAIN_CFG,
               test_cfg=dict(nms_pre=100,
                             min_bbox_size=0,
                             score_thr=0.0,
                             nms=dict(type='nms', iou_threshold=0.6),
                             max_per_img=20))
    return build('mmdet', cfg)


def segmentor():
    cfg = dict(type='LanguageGuidedEncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      mean=[128.0] * 3,
                                      std=[64.0] * 3,
                                      size=(IMG, IMG)),
               backbone=dict(type='ResNetV1c', stem_channels=8, **RESNET),
               neck=dict(type='LLMPrefixNeck',
                         neck=dict(type='FPN',
                                   in_channels=[8, 16, 32, 64],
                                   out_channels=16,
                                   num_outs=4),
                         text_encoder=tiny_text_encoder_cfg('bert',
                                                            embed_dims=D)),
               decode_head=dict(type='LanguageGuidedFPNHead',
                                in_channels=[16] * 4,
                                in_index=[0, 1, 2, 3],
                                feature_strides=[4, 8, 16, 32],
                                channels=16,
                                num_classes=3,
                                embed_dims=D,
                                dropout_ratio=0.0,
                                norm_cfg=None,
                                align_corners=False),
               test_cfg=dict(mode='whole'))
    return build('mmseg', cfg)


def build(scope, cfg):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(scope):
        registry = __import__(f'{scope}.registry', fromlist=['MODELS'])
        model = registry.MODELS.build(ConfigDict(cfg))
    model.init_weights()
    return model.eval()


def predict(model, text=None):
    """One image through ``test_step``; ``text`` as a test pipeline's
    LoadClassTexts would put it into the sample."""
    meta = dict(img_path='img.png',
                img_shape=(IMG, IMG),
                ori_shape=(IMG, IMG),
                pad_shape=(IMG, IMG),
                scale_factor=(1.0, 1.0),
                padding_size=[0, 0, 0, 0])
    if text is not None:
        meta.update(text=tuple(text),
                    text_label_ids=tuple(range(len(text))),
                    text_mask=(True, ) * len(text))
    is_det = hasattr(model, 'bbox_head')
    sample = (DetDataSample if is_det else SegDataSample)(metainfo=meta)
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0,
                          255, (3, IMG, IMG),
                          generator=gen,
                          dtype=torch.uint8)
    with torch.no_grad():
        return model.test_step(dict(inputs=[image], data_samples=[sample]))[0]


def scored(model, result):
    """(number of classes scored, predicted labels) of one prediction."""
    if hasattr(model, 'bbox_head'):
        labels = set(result.pred_instances.labels.tolist())
        return model._last_num_classes, labels
    return (result.seg_logits.data.shape[0],
            set(result.pred_sem_seg.data.unique().tolist()))


def record_num_classes(model):
    """Remember how many classes the detector head scored last."""
    head = model.bbox_head

    def hook(module, args, out):
        model._last_num_classes = head.num_classes

    head.classifier.register_forward_hook(hook)
    return model


MODELS = dict(detector=lambda: record_num_classes(detector()),
              segmentor=segmentor)

SPELLINGS = [
    ['cat', ('dog', 'puppy')],
    'a red car. a person. a tree.',
    'KvasirSEGDataset',
    dict(texts=['cat', 'dog'], label_ids=[3, 1]),
    dict(dataset='KvasirSEGDataset', label_ids=[1, 0]),
]


@pytest.mark.parametrize('kind', sorted(MODELS))
def test_same_spellings_same_meaning_for_both_model_kinds(kind):
    model = MODELS[kind]()
    assert isinstance(model, LanguageGuidedModelMixin)
    for spec in SPELLINGS:
        expected = Vocabulary.parse(spec)
        model.set_vocabulary(spec)
        assert model.vocabulary == expected
        assert model.vocabulary_label_ids == expected.label_ids
        # the override wins over the classes the test pipeline put in
        num_scored, labels = scored(model, predict(model,
                                                   ('x', 'y', 'z', 'w')))
        assert num_scored == len(expected)
        assert labels <= set(expected.label_ids)
    # 'KvasirSEGDataset' is the registered dataset for both kinds
    model.set_vocabulary('KvasirSEGDataset')
    assert model.vocabulary.names == ('background', 'polyp')


@pytest.mark.parametrize('kind', sorted(MODELS))
def test_override_is_persistent_until_cleared_and_unused_in_training(kind):
    model = MODELS[kind]()
    text = ('sky', 'dog', 'cat', 'road')
    assert scored(model, predict(model, text))[0] == 4
    model.set_vocabulary(['a red car', 'a person'])
    first = predict(model, text)
    assert scored(model, first)[0] == 2
    assert scored(model, predict(model, text))[0] == 2  # persistent
    # scores depend on the prompts
    model.set_vocabulary(['a blue boat', 'grass'])
    other = predict(model, text)
    if kind == 'detector':
        assert not torch.allclose(first.pred_instances.scores,
                                  other.pred_instances.scores)
    else:
        assert not torch.allclose(first.seg_logits.data, other.seg_logits.data)
    # training batches use the samples' text (gt labels index it)
    metas = [dict(text=text)]
    assert model.batch_vocabulary(metas, 1,
                                  training=True).texts == [list(text)]
    assert model.batch_vocabulary(metas, 1).source == 'override'
    model.set_vocabulary(None)
    assert scored(model, predict(model, text))[0] == 4
    with pytest.raises(ValueError, match='label_ids without'):
        model.set_vocabulary(None, [0])


def test_segmentor_loss_ignores_the_override():
    model = segmentor().train()
    model.set_vocabulary(['only one'])
    labels = torch.randint(0, 3, (1, 1, IMG, IMG))
    sample = SegDataSample(metainfo=dict(
        text=('a', 'b', 'c'), img_shape=(IMG, IMG), ori_shape=(IMG, IMG)))
    sample.gt_sem_seg = PixelData(data=labels[0])
    losses = model.loss(torch.randn(1, 3, IMG, IMG), [sample])
    assert torch.isfinite(losses['decode.loss_ce'])


@pytest.mark.parametrize('kind', sorted(MODELS))
def test_temporary_vocabulary_restores_the_previous_override(kind):
    """``model.temporary_vocabulary`` scores against its prompts inside the
    block and restores the override of before (or none), also on error."""
    model = MODELS[kind]()
    assert model.vocabulary_override is None
    with model.temporary_vocabulary(['a red car', 'a person'],
                                    [3, 7]) as vocab:
        assert list(vocab.entries) == ['a red car', 'a person']
        assert model.vocabulary_override is vocab
        assert model.vocabulary_label_ids == (3, 7)
        assert scored(model, predict(model, ['x', 'y', 'z']))[0] == 2
    assert model.vocabulary_override is None
    model.set_vocabulary('grass')
    with pytest.raises(RuntimeError, match='inside'):
        with model.temporary_vocabulary('a blue boat. sky. sea'):
            assert len(model.vocabulary) == 3
            raise RuntimeError('inside')
    assert list(model.vocabulary_override.entries) == ['grass']
    with pytest.raises(ValueError):  # as set_vocabulary: one id per entry
        with model.temporary_vocabulary(['a', 'b'], [0]):
            pass
    assert list(model.vocabulary_override.entries) == ['grass']
