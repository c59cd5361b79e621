"""Stock Pack* + stock DataLoader carry the texts of every sample."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from mmvlm.datasets import (DET_TEXT_META_KEYS, SEG_TEXT_META_KEYS,
                            TEXT_META_KEYS, MultiModalDataset)

TINY_CLASSES = ('traffic_light', 'dog', 'wall-other-merged', 'bow_(weapon)')
SEG_CLASSES = ('background', 'sky-other', 'tree', 'person')


def test_meta_keys_extend_the_stock_defaults():
    from mmdet.datasets.transforms import PackDetInputs
    from mmseg.datasets.transforms import PackSegInputs
    det_default = PackDetInputs().meta_keys
    seg_default = PackSegInputs().meta_keys
    assert DET_TEXT_META_KEYS == tuple(det_default) + TEXT_META_KEYS
    assert SEG_TEXT_META_KEYS == tuple(seg_default) + TEXT_META_KEYS
    assert TEXT_META_KEYS == ('text', 'text_mask', 'text_label_ids',
                              'custom_entities')


def det_dataset(data_root, ann_file, max_num_texts=6):
    return MultiModalDataset(
        dataset=dict(
            type='CocoDataset',
            data_root=data_root,
            ann_file=ann_file,
            data_prefix=dict(img='images/'),
            metainfo=dict(classes=TINY_CLASSES),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='Resize', scale=(64, 64), keep_ratio=False),
                dict(type='RandomFlip', prob=0.5),
                dict(type='LoadClassTexts', templates=['a photo of a {}.']),
                dict(
                    type='RandomSampleNegativeTexts',
                    num_negatives=1,
                    max_num_texts=max_num_texts,
                    seed=0),
                dict(type='PackDetInputs', meta_keys=DET_TEXT_META_KEYS),
            ]))


@pytest.mark.parametrize('num_workers', [0, 1])
def test_det_batches_carry_texts_per_sample(tiny_coco, num_workers):
    init_default_scope('mmdet')
    loader = DataLoader(
        det_dataset(*tiny_coco),
        batch_size=3,
        num_workers=num_workers,
        collate_fn=pseudo_collate)
    batch = next(iter(loader))
    samples = batch['data_samples']
    assert len(samples) == 3 and len(batch['inputs']) == 3
    raw_labels = {1: ['traffic light', 'dog'], 2: ['bow'], 3: ['dog', 'dog']}
    for sample in samples:
        assert len(sample.text) == 6
        valid = sum(sample.text_mask)
        assert sample.text_mask == (True, ) * valid + (False, ) * (6 - valid)
        assert sample.text[valid:] == ('', ) * (6 - valid)
        assert sample.custom_entities is True
        names = [
            sample.text[k] for k in sample.gt_instances.labels.tolist()
        ]
        assert names == [
            f'a photo of a {n}.' for n in raw_labels[sample.img_id]
        ]
        cleaned = ('traffic light', 'dog', 'wall', 'bow')
        for entry, label_id in zip(sample.text[:valid],
                                   sample.text_label_ids[:valid]):
            assert entry == f'a photo of a {cleaned[label_id]}.'
    # the stock data preprocessor batches them without losing metainfo
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    data = DetDataPreprocessor(pad_size_divisor=32)(batch, training=True)
    assert data['inputs'].shape == (3, 3, 64, 64)
    assert [s.text for s in data['data_samples']] == [s.text for s in samples]


def test_seg_batches_carry_texts_per_sample(tiny_seg):
    init_default_scope('mmseg')
    dataset = MultiModalDataset(
        dataset=dict(
            type='BaseSegDataset',
            data_root=tiny_seg,
            data_prefix=dict(img_path='img', seg_map_path='ann'),
            img_suffix='.png',
            seg_map_suffix='.png',
            metainfo=dict(classes=SEG_CLASSES)),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='LoadClassTexts'),
            dict(
                type='RandomSampleNegativeTexts',
                num_negatives=0,
                max_num_texts=4,
                seed=0),
            dict(type='PackSegInputs', meta_keys=SEG_TEXT_META_KEYS),
        ])
    batch = next(iter(DataLoader(dataset, batch_size=2,
                                 collate_fn=pseudo_collate)))
    for index, sample in enumerate(batch['data_samples']):
        # image i has background (0) and class 1 + i, plus ignore rows
        assert sample.text_mask == (True, True, False, False)
        assert sorted(sample.text_label_ids[:2]) == [0, 1 + index]
        seg = sample.gt_sem_seg.data[0]  # mmseg's PixelData key
        right = seg[10, -1].item()
        left = seg[10, 0].item()
        assert sample.text[right] == ('sky', 'tree')[index]
        assert sample.text[left] == 'background'
        assert (seg[:4] == 255).all()
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    data = SegDataPreProcessor(size=(64, 64))(batch, training=True)
    assert data['inputs'].shape == (2, 3, 64, 64)
    assert [s.text_label_ids for s in data['data_samples']] == [
        s.text_label_ids for s in batch['data_samples']
    ]
    assert isinstance(data['data_samples'][0].gt_sem_seg.data,
                      torch.Tensor)
    assert np.isfinite(data['inputs'].numpy()).all()


def test_seeded_sampling_is_reproducible_with_workers(tiny_coco):
    init_default_scope('mmdet')

    def run():
        loader = DataLoader(
            det_dataset(*tiny_coco, max_num_texts=4),
            batch_size=1,
            num_workers=2,
            collate_fn=pseudo_collate)
        return [(b['data_samples'][0].img_id, b['data_samples'][0].text)
                for b in loader]

    first = run()
    assert first == run()
    assert [img_id for img_id, _ in first] == [1, 2, 3]
