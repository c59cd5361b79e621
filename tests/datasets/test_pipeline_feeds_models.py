"""End to end: stock Pack* + a stock DataLoader feed batches that the
language-guided detector and segmentor consume (tiny random models)."""
import json

import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS as SEG_DATASETS
from mmseg.registry import MODELS as SEG_MODELS
from torch.utils.data import DataLoader

from mmvlm.datasets import (DET_TEXT_META_KEYS, SEG_TEXT_META_KEYS,
                            MultiModalDataset)
from mmvlm.testing import (TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg,
                           tiny_text_encoder_cfg)

TINY_CLASSES = ('traffic_light', 'dog', 'wall-other-merged', 'bow_(weapon)')
SEG_CLASSES = ('background', 'sky-other', 'tree', 'person')
EMBED, IMG = 16, 64
TINY_RESNET = dict(
    type='ResNet',
    depth=18,
    base_channels=8,
    stem_channels=8,
    out_indices=(1, 2, 3),
    norm_cfg=dict(type='BN'))


def det_model():
    return dict(
        type='LanguageGuidedDetector',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[128.0] * 3,
            std=[64.0] * 3,
            bgr_to_rgb=True,
            pad_size_divisor=32),
        backbone=TINY_RESNET,
        neck=dict(
            type='LLMPrefixNeck',
            neck=dict(
                type='FPN',
                in_channels=[16, 32, 64],
                out_channels=16,
                start_level=0,
                add_extra_convs='on_output',
                num_outs=3),
            text_encoder=tiny_text_encoder_cfg('bert', embed_dims=EMBED)),
        bbox_head=tiny_atss_head_cfg(
            num_classes=len(TINY_CLASSES), in_channels=16, embed_dims=EMBED),
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=dict(
            nms_pre=100,
            min_bbox_size=0,
            score_thr=0.0,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=20))


def det_loader(tiny_coco, train):
    texts = ([
        dict(type='LoadClassTexts'),
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=1,
            max_num_texts=4,
            seed=0)
    ] if train else [dict(type='LoadClassTexts')])
    data_root, ann_file = tiny_coco
    dataset = MultiModalDataset(
        dataset=dict(
            type='CocoDataset',
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(img='images/'),
            metainfo=dict(classes=TINY_CLASSES),
            test_mode=not train,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(IMG, IMG), keep_ratio=False),
                *texts,
                dict(type='PackDetInputs', meta_keys=DET_TEXT_META_KEYS),
            ]))
    return DataLoader(dataset, batch_size=3, collate_fn=pseudo_collate)


def test_language_guided_detector_consumes_pipeline_batches(tiny_coco):
    init_default_scope('mmdet')
    assert DET_MODELS.get('LanguageGuidedDetector') is not None
    torch.manual_seed(0)
    model = DET_MODELS.build(ConfigDict(det_model()))

    batch = next(iter(det_loader(tiny_coco, train=True)))
    assert {len(s.text) for s in batch['data_samples']} == {4}
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total.item() > 0
    total.backward()
    head_grad = model.bbox_head.atss_cls.parameters()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in head_grad)

    model.eval()
    batch = next(iter(det_loader(tiny_coco, train=False)))
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results) == 3
    for result in results:
        labels = result.pred_instances.labels
        assert len(labels) > 0
        # predictions are dataset class ids, ready for CocoMetric
        assert 0 <= labels.min() and labels.max() < len(TINY_CLASSES)


def seg_model():
    return dict(
        type='LanguageGuidedEncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[128.0] * 3,
            std=[64.0] * 3,
            size=(IMG, IMG),
            pad_val=0,
            seg_pad_val=255),
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(0, 1, 2, 3),
            norm_cfg=dict(type='BN'),
            style='pytorch'),
        neck=dict(
            type='LLMPrefixNeck',
            neck=dict(
                type='FPN',
                in_channels=[8, 16, 32, 64],
                out_channels=16,
                num_outs=4),
            text_encoder=tiny_text_encoder_cfg('bert', embed_dims=EMBED)),
        decode_head=dict(
            type='LanguageGuidedFPNHead',
            in_channels=[16, 16, 16, 16],
            in_index=[0, 1, 2, 3],
            feature_strides=[4, 8, 16, 32],
            channels=16,
            num_classes=len(SEG_CLASSES),
            embed_dims=EMBED,
            dropout_ratio=0.0,
            norm_cfg=None,
            align_corners=False),
        test_cfg=dict(mode='whole'))


def seg_loader(tiny_seg, train):
    texts = ([
        dict(type='LoadClassTexts'),
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=0,
            max_num_texts=3,
            seed=0)
    ] if train else [dict(type='LoadClassTexts')])
    dataset = MultiModalDataset(
        dataset=dict(
            type='BaseSegDataset',
            data_root=tiny_seg,
            data_prefix=dict(img_path='img', seg_map_path='ann'),
            img_suffix='.png',
            seg_map_suffix='.png',
            metainfo=dict(classes=SEG_CLASSES),
            test_mode=not train),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            *texts,
            dict(type='PackSegInputs', meta_keys=SEG_TEXT_META_KEYS),
        ])
    return DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate)


def test_language_guided_segmentor_consumes_pipeline_batches(tiny_seg):
    init_default_scope('mmseg')
    assert SEG_MODELS.get('LanguageGuidedEncoderDecoder') is not None
    torch.manual_seed(0)
    model = SEG_MODELS.build(ConfigDict(seg_model()))

    batch = next(iter(seg_loader(tiny_seg, train=True)))
    assert [s.text_mask for s in batch['data_samples']] == [
        (True, True, False)
    ] * 2
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total.item() > 0
    total.backward()

    model.eval()
    batch = next(iter(seg_loader(tiny_seg, train=False)))
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results) == 2
    for result in results:
        pred = result.pred_sem_seg.data
        assert pred.shape[-2:] == (48, 64)
        assert 0 <= pred.min() and pred.max() < len(SEG_CLASSES)


def test_phrase_masks_train_the_segmentor(tmp_path, images_dir):
    # free-text phrases (text_label_ids -1) as the vocabulary of a segmentor
    ann = dict(
        images=[dict(id=1, file_name='a.png', height=48, width=64)],
        annotations=[
            dict(id=1, image_id=1, bbox=[2, 2, 20, 20], phrase='the dog',
                 segmentation=[[2, 2, 22, 2, 22, 22, 2, 22]]),
            dict(id=2, image_id=1, bbox=[30, 2, 20, 20], phrase='a cat',
                 segmentation=[[30, 2, 50, 2, 50, 22, 30, 22]]),
        ])
    ann_file = tmp_path / 'refs.json'
    ann_file.write_text(json.dumps(ann))
    init_default_scope('mmseg')
    dataset = SEG_DATASETS.build(
        dict(
            type='PhraseGroundingDataset',
            ann_file=str(ann_file),
            data_prefix=dict(img=images_dir),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='PhraseMasksToSegMap'),
                dict(
                    type='RandomSampleNegativeTexts',
                    num_negatives=0,
                    max_num_texts=3),
                dict(type='PackSegInputs', meta_keys=SEG_TEXT_META_KEYS),
            ]))
    batch = next(iter(DataLoader([dataset[0]] * 2, batch_size=2,
                                 collate_fn=pseudo_collate)))
    text = batch['data_samples'][0].text  # shuffled by the sampler
    assert sorted(text[:2]) == ['a cat', 'the dog'] and text[2] == ''
    assert batch['data_samples'][0].text_label_ids == (-1, -1, -1)
    torch.manual_seed(0)
    model = SEG_MODELS.build(ConfigDict(seg_model()))
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total.item() > 0
