"""LanguageGuidedEncoderDecoder: vocabularies, inference modes, metrics."""
import copy

import pytest
from mmengine.registry import DefaultScope
import torch
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


EMBED = 16
IMG = 64


def model_cfg(head: str = 'FPN', **extra) -> dict:
    """A tiny language-guided segmentor (ResNet-18 with 8 base channels)."""
    decode_head = dict(type='LanguageGuidedFPNHead',
                       in_channels=[16, 16, 16, 16],
                       in_index=[0, 1, 2, 3],
                       feature_strides=[4, 8, 16, 32],
                       channels=16,
                       num_classes=3,
                       embed_dims=EMBED,
                       dropout_ratio=0.0,
                       norm_cfg=None,
                       align_corners=False)
    decode_head.update(extra.pop('decode_head', {}))
    cfg = dict(type='LanguageGuidedEncoderDecoder',
               data_preprocessor=dict(type='SegDataPreProcessor',
                                      mean=[128.0] * 3,
                                      std=[64.0] * 3,
                                      size=(IMG, IMG),
                                      pad_val=0,
                                      seg_pad_val=255),
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
                         text_encoder=tiny_text_encoder_cfg('bert',
                                                            embed_dims=EMBED)),
               decode_head=decode_head,
               test_cfg=dict(mode='whole'))
    cfg.update(extra)
    return cfg


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(model_cfg(**kwargs))


def make_samples(labels, **meta):
    out = []
    for i in range(labels.shape[0]):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=labels[i:i + 1].clone())
        info = dict(img_shape=(IMG, IMG),
                    ori_shape=(IMG, IMG),
                    pad_shape=(IMG, IMG),
                    padding_size=[0, 0, 0, 0])
        info.update({
            k: (v[i] if isinstance(v, list) else v)
            for k, v in meta.items()
        })
        s.set_metainfo(info)
        out.append(s)
    return out


def images(batch=2, size=IMG):
    torch.manual_seed(1)
    return torch.randn(batch, 3, size, size)


def test_loss_with_vocabulary_from_samples():
    model = build()
    labels = torch.randint(0, 3, (2, IMG, IMG))
    labels[:, :5] = 255
    samples = make_samples(labels, text=('sky', 'dog', ('cat', 'kitten')))
    losses = model.loss(images(), samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    losses['decode.loss_ce'].backward()
    assert model.decode_head.conv_seg.embed.weight.grad.abs().sum() > 0
    assert model.backbone.stem[0].weight.grad.abs().sum() > 0


def test_per_image_vocabularies_of_different_length():
    model = build()
    labels = torch.stack(
        [torch.randint(0, 4, (IMG, IMG)),
         torch.randint(0, 2, (IMG, IMG))])
    samples = make_samples(labels,
                           text=[('sky', 'dog', 'cat', 'road'),
                                 ('tree', 'car', '', '')],
                           text_mask=[(True, ) * 4,
                                      (True, True, False, False)])
    losses = model.loss(images(), samples)
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        preds = model.predict(images(), samples)
    assert int(preds[1].pred_sem_seg.data.max()) <= 1


def test_vocabulary_argument_and_missing_vocabulary_error():
    model = build(vocabulary=['sky', 'dog', 'cat'])
    labels = torch.randint(0, 3, (2, IMG, IMG))
    losses = model.loss(images(), make_samples(labels))
    assert torch.isfinite(losses['decode.loss_ce'])
    bare = build()
    with pytest.raises(ValueError, match='model.vocabulary'):
        bare.loss(images(), make_samples(labels))


def test_predictions_are_mapped_to_dataset_label_ids():
    model = build().eval()
    labels = torch.zeros(2, IMG, IMG, dtype=torch.long)
    samples = make_samples(labels,
                           text=('sky', 'dog', 'cat'),
                           text_label_ids=(7, 2, 11))
    with torch.no_grad():
        preds = model.predict(images(), samples)
    for pred in preds:
        values = set(pred.pred_sem_seg.data.unique().tolist())
        assert values <= {7, 2, 11}
        assert pred.seg_logits.data.shape == (3, IMG, IMG)
    # the argmax over vocabulary logits, mapped through the ids
    lut = torch.tensor([7, 2, 11])
    torch.testing.assert_close(preds[0].pred_sem_seg.data,
                               lut[preds[0].seg_logits.data.argmax(0)][None])


def test_train_vocabulary_subset_remaps_gt_and_ignores_unseen():
    model = build(vocabulary=['a', 'b', 'c', 'd'],
                  train_vocabulary=dict(texts=['b', 'd'], label_ids=[1, 3]),
                  decode_head=dict(num_classes=4))
    labels = torch.tensor([[[0, 1], [2, 3]]])
    remapped = model._remap_gt(
        make_samples(labels),
        model.train_vocabulary.label_ids)[0].gt_sem_seg.data
    assert remapped.tolist() == [[[255, 0], [255, 1]]]
    full = torch.randint(0, 4, (2, IMG, IMG))
    losses = model.loss(images(), make_samples(full))
    assert torch.isfinite(losses['decode.loss_ce'])


def test_gt_id_beyond_vocabulary_is_named():
    model = build()
    labels = torch.zeros(2, IMG, IMG, dtype=torch.long)
    labels[0, 3, 3] = 5
    with pytest.raises(ValueError, match='label id 5'):
        model.loss(images(), make_samples(labels, text=('a', 'b', 'c')))


def test_empty_vocabulary_and_one_class_errors():
    with pytest.raises(ValueError, match='empty'):
        build(vocabulary=[])
    model = build(vocabulary=['only'])
    labels = torch.zeros(2, IMG, IMG, dtype=torch.long)
    with pytest.raises(ValueError, match='out_channels=1'):
        model.loss(images(), make_samples(labels))
    samples = make_samples(labels,
                           text=[('', ''), ('a', 'b')],
                           text_mask=[(False, False), (True, True)])
    with pytest.raises(ValueError, match='empty vocabulary'):
        model.loss(images(), samples)


def test_slide_equals_whole_for_one_window_and_small_images():
    model = build(vocabulary=['a', 'b', 'c']).eval()
    x = images(1)
    with torch.no_grad():
        whole = model.inference(x, [
            dict(ori_shape=(IMG, IMG),
                 img_shape=(IMG, IMG),
                 pad_shape=(IMG, IMG))
        ])
        model.test_cfg = dict(mode='slide',
                              crop_size=(IMG, IMG),
                              stride=(32, 32))
        from mmengine.config import ConfigDict
        model.test_cfg = ConfigDict(model.test_cfg)
        slide = model.inference(x, [
            dict(ori_shape=(IMG, IMG),
                 img_shape=(IMG, IMG),
                 pad_shape=(IMG, IMG))
        ])
        torch.testing.assert_close(slide, whole)
        # an image smaller than the crop is decoded in one window
        model.test_cfg.crop_size = (96, 96)
        small = model.predict(images(1, 32))
        # overlapping windows on a larger image
        model.test_cfg.crop_size = (64, 64)
        big = model.predict(images(1, 128))
    assert small[0].pred_sem_seg.data.shape == (1, 32, 32)
    assert big[0].seg_logits.data.shape == (3, 128, 128)


def test_auxiliary_heads_language_guided_and_stock():
    aux = [
        dict(type='LanguageGuidedFCNHead',
             in_channels=16,
             in_index=2,
             channels=8,
             num_convs=1,
             concat_input=False,
             num_classes=3,
             embed_dims=EMBED,
             norm_cfg=None,
             loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
        dict(type='FCNHead',
             in_channels=16,
             in_index=1,
             channels=8,
             num_convs=1,
             num_classes=3,
             norm_cfg=None)
    ]
    model = build(auxiliary_head=aux)
    labels = torch.randint(0, 3, (2, IMG, IMG))
    losses = model.loss(images(), make_samples(labels, text=('a', 'b', 'c')))
    assert {'decode.loss_ce', 'aux_0.loss_ce', 'aux_1.loss_ce'} <= set(losses)


def test_tensor_mode_forward():
    model = build(vocabulary=['a', 'b', 'c', 'd']).eval()
    out = model(images(), mode='tensor')
    assert out.shape == (2, 4, IMG // 4, IMG // 4)
    with pytest.raises(ValueError, match='vocabulary'):
        build()(images(), mode='tensor')
    # FLOPs counting (mmseg's get_flops) goes through the tensor mode
    from mmengine.analysis import get_model_complexity_info
    info = get_model_complexity_info(model,
                                     input_shape=(3, IMG, IMG),
                                     show_table=False,
                                     show_arch=False)
    assert info['flops'] > 0 and info['params'] > 0


def test_stock_iou_metric_with_dice():
    model = build(vocabulary=['a', 'b', 'c']).eval()
    labels = torch.randint(0, 3, (2, IMG, IMG))
    samples = make_samples(labels)
    with torch.no_grad():
        preds = model.predict(images(), samples)
    metric = IoUMetric(iou_metrics=['mIoU', 'mDice'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process([], [p.to_dict() for p in preds])
    results = metric.compute_metrics(metric.results)
    assert {'mIoU', 'mDice', 'aAcc'} <= set(results)
    pred = torch.cat([p.pred_sem_seg.data for p in preds])
    acc = (pred == labels).float().mean().item() * 100
    assert results['aAcc'] == pytest.approx(acc, abs=0.01)


def test_binary_prompt_segmentation_one_mask_per_prompt():
    model = build(vocabulary=['background', 'polyp'],
                  decode_head=dict(num_classes=2,
                                   out_channels=1,
                                   threshold=0.5,
                                   loss_decode=dict(type='CrossEntropyLoss',
                                                    use_sigmoid=True)))
    labels = torch.randint(0, 2, (2, IMG, IMG))
    losses = model.loss(images(), make_samples(labels))
    assert torch.isfinite(losses['decode.loss_ce'])
    model.eval()
    with torch.no_grad():
        preds = model.predict(images(), make_samples(labels))
        prompted = model.predict_prompts(images(),
                                         ['polyp', 'left hippocampus'],
                                         make_samples(labels))
        single = model.predict_prompts(images(), ['polyp'])
    assert set(preds[0].pred_sem_seg.data.unique().tolist()) <= {0, 1}
    masks = prompted[0].pred_prompt_masks.data
    assert masks.shape == (2, IMG, IMG) and masks.dtype == torch.bool
    assert prompted[0].prompts == ('polyp', 'left hippocampus')
    # the 'polyp' mask equals the binary prediction for the pair vocabulary
    torch.testing.assert_close(masks[0:1].long(),
                               preds[0].pred_sem_seg.data.long())
    torch.testing.assert_close(single[0].prompt_scores.data[0],
                               prompted[0].prompt_scores.data[0])


def test_multi_prompt_softmax_with_learned_background():
    model = build(vocabulary=['background', 'liver', 'spleen'],
                  decode_head=dict(learnable_background=True)).eval()
    with torch.no_grad():
        out = model.predict_prompts(images(), ['liver', 'spleen', 'aorta'])
    masks = out[0].pred_prompt_masks.data
    scores = out[0].prompt_scores.data
    assert masks.shape == (3, IMG, IMG)
    # prompts compete: a pixel belongs to at most one prompt
    assert int(masks.sum(0).max()) <= 1
    assert (scores >= 0).all() and (scores.sum(0) <= 1 + 1e-5).all()


def test_non_text_neck_is_rejected():
    cfg = model_cfg()
    cfg['neck'] = dict(type='FPN',
                       in_channels=[8, 16, 32, 64],
                       out_channels=16,
                       num_outs=4)
    with pytest.raises(TypeError, match='LLMPrefixNeck'):
        MODELS.build(copy.deepcopy(cfg))


def test_pixel_text_similarity_maps_match_the_logits():
    model = build(vocabulary=['sky', 'dog', 'cat']).eval()
    x = images(1)
    sims = model.pixel_text_similarity(x, ['sky', 'dog', 'cat'])
    assert sims.shape == (1, 3, IMG, IMG)
    assert sims.abs().max() <= 1 + 1e-5
    with torch.no_grad():
        logits = model.inference(x, [
            dict(ori_shape=(IMG, IMG),
                 img_shape=(IMG, IMG),
                 pad_shape=(IMG, IMG))
        ])
    # logits = scale * cosine + bias, so they agree up to that affine map
    scale = model.decode_head.conv_seg.scale
    bias = model.decode_head.conv_seg.bias
    torch.testing.assert_close(logits,
                               sims * scale + bias,
                               rtol=1e-4,
                               atol=1e-4)
    # one prompt on a softmax head, and synonyms, work too
    one = model.pixel_text_similarity(x, [('dog', 'puppy')])
    assert one.shape == (1, 1, IMG, IMG)


@pytest.mark.parametrize('channels', [5, 1])
def test_postprocess_matches_the_stock_one(channels):
    """The faster copy of mmseg's post-processing gives the stock outputs
    (padding removed, flips undone, resized; argmax or binary threshold)."""
    from mmseg.models.segmentors import BaseSegmentor
    model = build(vocabulary=['a', 'b', 'c'])
    model.decode_head.threshold = 0.3
    torch.manual_seed(3)
    logits = torch.randn(3, channels, 40,
                         48).contiguous(memory_format=torch.channels_last)
    metas = [
        dict(ori_shape=(30, 50),
             padding_size=[0, 8, 0, 10],
             flip=True,
             flip_direction='horizontal'),
        dict(ori_shape=(40, 48), padding_size=[0, 0, 0, 0], flip=False),
        dict(ori_shape=(80, 96),
             img_padding_size=[2, 0, 4, 0],
             flip=True,
             flip_direction='vertical')
    ]

    def samples():
        out = []
        for meta in metas:
            s = SegDataSample()
            s.set_metainfo(meta)
            out.append(s)
        return out

    ours = model.postprocess_result(logits, samples())
    stock = BaseSegmentor.postprocess_result(model, logits.contiguous(),
                                             samples())
    for a, b in zip(ours, stock):
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
    bare = model.postprocess_result(logits)
    stock = BaseSegmentor.postprocess_result(model, logits.contiguous())
    for a, b in zip(bare, stock):
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


def test_training_images_smaller_than_the_crop_are_padded_and_ignored():
    model = build(vocabulary=['a', 'b', 'c'])
    small = [torch.randint(0, 255, (3, 32, 40), dtype=torch.uint8)] * 2
    labels = torch.randint(0, 3, (2, 32, 40))
    samples = make_samples(labels)
    for s in samples:
        s.set_metainfo(dict(img_shape=(32, 40), ori_shape=(32, 40)))
    batch = model.data_preprocessor(
        dict(inputs=small, data_samples=samples), True)
    assert batch['inputs'].shape == (2, 3, IMG, IMG)
    gt = batch['data_samples'][0].gt_sem_seg.data
    assert (gt[:, 32:, :] == 255).all() and (gt[:, :, 40:] == 255).all()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert torch.isfinite(losses['decode.loss_ce'])
