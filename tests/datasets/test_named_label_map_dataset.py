"""NamedLabelMapDataset: label-map values named through a list."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

pytest.importorskip('mmseg')

from mmvlm.datasets import LoadWideSegMap, NamedLabelMapDataset  # noqa

NAMES = ('background', ) + tuple(f'thing {i}' for i in range(300))


def _write_sample(root: str) -> np.ndarray:
    """One 16-bit label map with values 0, 7, 260 and 300."""
    seg = np.zeros((8, 8), np.uint16)
    seg[:2] = 7
    seg[2:4] = 260
    seg[4:5] = 300
    for sub in ('img', 'ann'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    cv2.imwrite(osp.join(root, 'img', 'a.jpg'), np.zeros((8, 8, 3),
                                                          np.uint8))
    cv2.imwrite(osp.join(root, 'ann', 'a.png'), seg)
    return seg


def _dataset(root, classes, **kwargs):
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    return NamedLabelMapDataset(
        value_names=NAMES,
        data_root=root,
        data_prefix=dict(img_path='img', seg_map_path='ann'),
        metainfo=dict(classes=classes),
        pipeline=[dict(type='LoadWideSegMap')],
        **kwargs)


def test_values_above_255_map_to_the_split_classes(tmp_path):
    _write_sample(str(tmp_path))
    classes = ('background', 'thing 259', 'thing 6')
    seg = _dataset(str(tmp_path), classes)[0]['gt_seg_map']
    assert seg[0, 0] == 2  # value 7 = 'thing 6'
    assert seg[2, 0] == 1  # value 260 = 'thing 259'
    assert seg[4, 0] == 255  # 'thing 299' is not asked: ignored
    assert seg[7, 0] == 0


def test_unlisted_names_can_become_background(tmp_path):
    _write_sample(str(tmp_path))
    ds = _dataset(str(tmp_path), ('background', 'thing 6'),
                  unlisted='background')
    seg = ds[0]['gt_seg_map']
    assert seg[2, 0] == 0 and seg[4, 0] == 0 and seg[0, 0] == 1


def test_many_classes_keep_their_values_with_a_wide_ignore(tmp_path):
    _write_sample(str(tmp_path))
    ds = _dataset(str(tmp_path), NAMES, ignore_index=65535)
    seg = ds[0]['gt_seg_map']
    assert seg.dtype == np.uint16
    assert seg[2, 0] == 260 and seg[4, 0] == 300


def test_ignore_index_colliding_with_a_class_is_refused(tmp_path):
    _write_sample(str(tmp_path))
    with pytest.raises(ValueError, match='ignore_index=255 is the index'):
        _dataset(str(tmp_path), NAMES)


def test_a_class_that_no_value_names_is_refused(tmp_path):
    _write_sample(str(tmp_path))
    with pytest.raises(ValueError, match="'unicorn'"):
        _dataset(str(tmp_path), ('background', 'unicorn'))
