"""LanguageGuidedDetector / LanguageGuidedTwoStageDetector: where the
vocabulary comes from, label remapping, bad input, tensor mode."""
from unittest import mock

import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.testing import (TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg,  # noqa: E402
                           tiny_bbox_head_cfg, tiny_text_encoder_cfg)

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'  # set around every test by tests/conftest.py

IMG, D = 64, 16

BACKBONE = dict(
    type='ResNet',
    depth=18,
    base_channels=8,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=False,
    style='pytorch')
FPN = dict(
    type='FPN',
    in_channels=[8, 16, 32, 64],
    out_channels=16,
    start_level=1,
    add_extra_convs='on_output',
    num_outs=3)
PREPROCESSOR = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)
NMS_CFG = dict(
    nms_pre=200,
    min_bbox_size=0,
    score_thr=0.0,
    nms=dict(type='nms', iou_threshold=0.6),
    max_per_img=30)


def neck_cfg():
    return dict(
        type='LLMPrefixNeck',
        neck=FPN,
        text_encoder=tiny_text_encoder_cfg('bert', embed_dims=D))


def single_stage_cfg(num_classes=80, **kwargs):
    cfg = dict(
        type='LanguageGuidedDetector',
        data_preprocessor=PREPROCESSOR,
        backbone=BACKBONE,
        neck=neck_cfg(),
        bbox_head=tiny_atss_head_cfg(
            num_classes=num_classes, in_channels=16, embed_dims=D),
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=NMS_CFG)
    cfg.update(kwargs)
    return cfg


def two_stage_cfg(num_classes=80):
    return dict(
        type='LanguageGuidedTwoStageDetector',
        data_preprocessor=PREPROCESSOR,
        backbone=BACKBONE,
        neck=neck_cfg(),
        rpn_head=dict(
            type='RPNHead',
            in_channels=16,
            feat_channels=16,
            anchor_generator=dict(
                type='AnchorGenerator',
                scales=[4],
                ratios=[0.5, 1.0, 2.0],
                strides=[8, 16, 32]),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[.0, .0, .0, .0],
                target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
            loss_bbox=dict(type='L1Loss')),
        roi_head=dict(
            type='LanguageGuidedStandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7,
                               sampling_ratio=0),
                out_channels=16,
                featmap_strides=[8, 16, 32]),
            bbox_head=tiny_bbox_head_cfg(
                num_classes=num_classes, in_channels=16, embed_dims=D)),
        train_cfg=dict(
            rpn=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.7,
                    neg_iou_thr=0.3,
                    min_pos_iou=0.3,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=64,
                    pos_fraction=0.5,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=False),
                allowed_border=-1,
                pos_weight=-1,
                debug=False),
            rpn_proposal=dict(
                nms_pre=200,
                max_per_img=100,
                nms=dict(type='nms', iou_threshold=0.7),
                min_bbox_size=0),
            rcnn=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.5,
                    neg_iou_thr=0.5,
                    min_pos_iou=0.5,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=64,
                    pos_fraction=0.25,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=True),
                pos_weight=-1,
                debug=False)),
        test_cfg=dict(
            rpn=dict(
                nms_pre=200,
                max_per_img=50,
                nms=dict(type='nms', iou_threshold=0.7),
                min_bbox_size=0),
            rcnn=dict(
                score_thr=0.0,
                nms=dict(type='nms', iou_threshold=0.5),
                max_per_img=30)))


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(cfg))
    model.init_weights()
    return model


def make_data(vocabularies, labels, label_ids=None, masks=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i, (vocab, lab) in enumerate(zip(vocabularies, labels)):
        meta = dict(
            img_path=f'img_{i}.jpg',
            img_shape=(IMG, IMG),
            ori_shape=(IMG, IMG),
            scale_factor=(1.0, 1.0))
        if vocab is not None:
            meta['text'] = tuple(vocab)
            meta['custom_entities'] = True
        if label_ids is not None:
            meta['text_label_ids'] = tuple(label_ids[i])
        if masks is not None:
            meta['text_mask'] = tuple(masks[i])
        sample = DetDataSample(metainfo=meta)
        n = len(lab)
        xy = torch.rand(n, 2, generator=gen) * IMG / 2
        wh = 10 + torch.rand(n, 2, generator=gen) * IMG / 2
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=IMG)], 1),
            labels=torch.tensor(lab, dtype=torch.long))
        inputs.append(torch.randint(0, 255, (3, IMG, IMG), generator=gen,
                                    dtype=torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def run_loss(model, data):
    data = model.data_preprocessor(data, True)
    return model.loss(data['inputs'], data['data_samples'])


def run_predict(model, data):
    model.eval()
    with torch.no_grad():
        return model.test_step(data)


CLASSES = ('cat', 'dog', 'zebra')


@pytest.mark.parametrize('cfg_fn', [single_stage_cfg, two_stage_cfg])
def test_loss_from_sample_vocabulary_with_empty_image(cfg_fn):
    model = build(cfg_fn())
    data = make_data([CLASSES, CLASSES], [[0, 2], []])
    losses = run_loss(model, data)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    head = model.language_guided_heads[0]
    assert head.classifier.embed.weight.grad.abs().sum() > 0
    # The frozen LM gets no gradient; the head is restored after the batch.
    assert all(p.grad is None for p in model.neck.text_encoder.lm.parameters())
    assert head.num_classes == 80


@pytest.mark.parametrize('cfg_fn', [single_stage_cfg, two_stage_cfg])
def test_per_image_vocabularies_are_mapped_to_dataset_ids(cfg_fn):
    model = build(cfg_fn())
    vocabs = [('cat', 'dog', ''), ('zebra', 'dog', 'cat')]
    ids = [(5, 9, -1), (40, 9, 5)]
    masks = [(True, True, False), (True, True, True)]
    data = make_data(vocabs, [[1], [0, 2]], ids, masks)
    losses = run_loss(model, data)
    assert torch.isfinite(losses['loss_cls'][0] if isinstance(
        losses['loss_cls'], list) else losses['loss_cls'])
    results = run_predict(model, data)
    assert len(results[0].pred_instances) > 0
    assert set(results[0].pred_instances.labels.tolist()) <= {5, 9}
    assert set(results[1].pred_instances.labels.tolist()) <= {40, 9, 5}


@pytest.mark.parametrize('cfg_fn', [single_stage_cfg, two_stage_cfg])
def test_label_remapping_matches_identity_run(cfg_fn):
    """Same vocabulary with label ids (5, 9, 40) vs. identity: same boxes
    and scores, labels mapped 0->5, 1->9, 2->40."""
    model = build(cfg_fn())
    plain = run_predict(model, make_data([CLASSES], [[0]]))[0].pred_instances
    mapped = run_predict(model, make_data([CLASSES], [[0]],
                                          [(5, 9, 40)]))[0].pred_instances
    assert len(plain) > 0
    torch.testing.assert_close(plain.bboxes, mapped.bboxes)
    torch.testing.assert_close(plain.scores, mapped.scores)
    table = torch.tensor([5, 9, 40])
    assert torch.equal(table[plain.labels], mapped.labels)


def test_model_vocabulary_and_dataset_meta_fallbacks():
    model = build(single_stage_cfg(vocabulary='a red car. a person'))
    assert model.vocabulary == ['a red car', 'a person']
    results = run_predict(model, make_data([None], [[]]))
    assert set(results[0].pred_instances.labels.tolist()) <= {0, 1}

    model = build(single_stage_cfg())
    model.dataset_meta = dict(classes=CLASSES)
    results = run_predict(model, make_data([None], [[]]))
    assert model.vocabulary == list(CLASSES)
    assert results[0].pred_instances.labels.max() < 3

    model = build(single_stage_cfg(vocabulary=dict(dataset='LVISV1Dataset')))
    assert len(model.vocabulary) == 1203


def test_no_vocabulary_is_a_clear_error():
    model = build(single_stage_cfg())
    with pytest.raises(RuntimeError, match='return_classes=True'):
        run_predict(model, make_data([None], [[]]))


def test_gt_label_outside_vocabulary_names_class_and_image():
    model = build(single_stage_cfg())
    data = make_data([('cat', 'dog', ''), CLASSES], [[2], [0]])
    with pytest.raises(ValueError, match=r"img_0\.jpg.*padding entry 2"):
        run_loss(model, data)
    data = make_data([CLASSES, ('cat', )], [[0], [1]])
    with pytest.raises(ValueError, match=r"img_1\.jpg.*label 1"):
        run_loss(model, data)


def test_num_classes_disagreeing_with_vocabulary_is_explained():
    model = build(single_stage_cfg(num_classes=2))
    with pytest.raises(ValueError, match=r"num_classes=2.*'zebra'|'zebra'.*"
                       r'num_classes=2'):
        run_loss(model, make_data([CLASSES], [[0]]))


def test_zero_and_duplicate_prompts():
    model = build(single_stage_cfg())
    for empty in ('', ' . ', []):
        with pytest.raises(ValueError, match='zero prompts'):
            model.set_vocabulary(empty)
    target = 'mmvlm.structures.prompt_checks.print_log'
    with mock.patch(target) as log:
        model.set_vocabulary('cat. dog. Cat. dog')
        model.set_vocabulary('cat. dog. Cat. dog')  # e.g. the next image
    assert model.vocabulary == ['cat', 'dog']
    assert log.call_count == 1 and 'Duplicate' in log.call_args[0][0]


def test_tensor_mode_forward_for_flops_and_export():
    model = build(single_stage_cfg(vocabulary=list(CLASSES)))
    model.eval()
    with torch.no_grad():
        cls_scores, bbox_preds, centerness = model(
            torch.randn(1, 3, IMG, IMG), mode='tensor')
    assert [c.shape[1] for c in cls_scores] == [3, 3, 3]
    assert cls_scores[0].shape[-2:] == (IMG // 8, IMG // 8)

    model = build(single_stage_cfg())
    with pytest.raises(RuntimeError, match='no vocabulary'):
        model(torch.randn(1, 3, IMG, IMG), mode='tensor')


def test_language_model_runs_once_per_vocabulary_in_evaluation():
    model = build(single_stage_cfg())
    encoder = model.neck.text_encoder
    encoder.lm_calls = 0
    for seed in range(3):
        run_predict(model, make_data([CLASSES, CLASSES], [[0], [1]],
                                     seed=seed))
    assert encoder.lm_calls == 1
    run_predict(model, make_data([('cat', 'horse')], [[0]]))
    assert encoder.lm_calls == 2


def test_bbox_head_requires_class_agnostic_regression():
    cfg = two_stage_cfg()
    cfg['roi_head']['bbox_head']['reg_class_agnostic'] = False
    with pytest.raises(ValueError, match='reg_class_agnostic=True'):
        build(cfg)


def test_two_stage_tensor_mode_forward():
    model = build(two_stage_cfg())
    model.eval()
    data = model.data_preprocessor(make_data([CLASSES], [[0]]), False)
    with torch.no_grad():
        cls_score, bbox_pred = model(data['inputs'], data['data_samples'],
                                     mode='tensor')[0][:2]
    # Softmax over the 3 sample classes + background, class-agnostic boxes.
    assert cls_score.shape[1] == 4 and bbox_pred.shape[1] == 4
