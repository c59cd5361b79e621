"""MultiModalDataset around stock mmdet and mmseg datasets."""
import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmvlm.datasets import DET_TEXT_META_KEYS, MultiModalDataset

#: The raw class names of the ``tiny_coco`` fixture (conftest.py).
TINY_CLASSES = ('traffic_light', 'dog', 'wall-other-merged', 'bow_(weapon)')


def coco_cfg(data_root, ann_file, pipeline=()):
    return dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file=ann_file,
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=TINY_CLASSES),
        pipeline=list(pipeline))


DET_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LoadClassTexts'),
    dict(type='PackDetInputs', meta_keys=DET_TEXT_META_KEYS),
]


def test_wraps_mmdet_coco_with_class_names(tiny_coco):
    init_default_scope('mmdet')
    dataset = MultiModalDataset(
        dataset=coco_cfg(*tiny_coco), pipeline=DET_PIPELINE)
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == TINY_CLASSES
    info = dataset.get_data_info(0)
    assert info['text'] == TINY_CLASSES
    sample = dataset[0]['data_samples']
    assert sample.text == ('traffic light', 'dog', 'wall', 'bow')
    assert sample.text_label_ids == (0, 1, 2, 3)
    # COCO category ids 1, 2 -> labels 0, 1: 'traffic light' and 'dog'.
    names = [sample.text[k] for k in sample.gt_instances.labels.tolist()]
    assert names == ['traffic light', 'dog']


def test_class_text_file_and_inner_pipeline(tiny_coco, class_text_file):
    init_default_scope('mmdet')
    dataset = MultiModalDataset(
        dataset=coco_cfg(*tiny_coco, pipeline=DET_PIPELINE),
        class_text_path=class_text_file)
    sample = dataset[1]['data_samples']
    assert sample.text[1] == ('dog', 'Hündchen')  # non-ASCII kept
    assert [sample.text[k]
            for k in sample.gt_instances.labels.tolist()] == ['bow']


def test_class_text_file_length_mismatch(tiny_coco, tmp_path):
    init_default_scope('mmdet')
    path = tmp_path / 'three.json'
    path.write_text(json.dumps([['a'], ['b'], ['c']]))
    with pytest.raises(ValueError, match=r'3 entries .* has 4 classes'):
        MultiModalDataset(
            dataset=coco_cfg(*tiny_coco), class_text_path=str(path))


def test_two_pipelines_is_an_error(tiny_coco):
    init_default_scope('mmdet')
    with pytest.raises(ValueError, match='Both MultiModalDataset'):
        MultiModalDataset(
            dataset=coco_cfg(*tiny_coco, pipeline=DET_PIPELINE),
            pipeline=DET_PIPELINE)


def test_refetch_when_pipeline_drops_sample(tiny_coco):
    init_default_scope('mmdet')
    calls = []

    def drop_first(results):
        calls.append(results['img_id'])
        return None if results['img_id'] == 1 else results

    dataset = MultiModalDataset(
        dataset=coco_cfg(*tiny_coco), pipeline=[drop_first])
    np.random.seed(0)
    out = dataset[0]
    assert out['img_id'] != 1 and calls[0] == 1


def test_wraps_mmseg_dataset(tiny_seg):
    init_default_scope('mmseg')
    dataset = MultiModalDataset(
        dataset=dict(
            type='BaseSegDataset',
            data_root=tiny_seg,
            data_prefix=dict(img_path='img', seg_map_path='ann'),
            img_suffix='.png',
            seg_map_suffix='.png',
            metainfo=dict(classes=('background', 'sky-other', 'tree',
                                   'person'))),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='LoadClassTexts', templates=['a photo of {}.']),
        ])
    out = dataset[1]
    assert out['text'] == ('a photo of background.', 'a photo of sky.',
                           'a photo of tree.', 'a photo of person.')
    assert set(np.unique(out['gt_seg_map'])) == {0, 2, 255}


def test_registered_in_both_codebases():
    from mmdet.registry import DATASETS as DET
    from mmseg.registry import DATASETS as SEG
    assert DET.get('MultiModalDataset') is MultiModalDataset
    assert SEG.get('MultiModalDataset') is MultiModalDataset
