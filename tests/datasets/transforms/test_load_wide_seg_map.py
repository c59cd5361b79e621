"""LoadWideSegMap: 16-bit label maps survive loading and mapping."""
import cv2
import numpy as np
import pytest

from mmvlm.datasets.transforms import LoadWideSegMap, apply_label_map


def test_16_bit_values_are_kept_without_a_label_map(tmp_path):
    seg = np.array([[0, 300], [65000, 5]], np.uint16)
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, seg)
    out = LoadWideSegMap()(dict(seg_map_path=path))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    assert out['seg_fields'] == ['gt_seg_map']


def test_label_map_applies_and_narrows_the_dtype(tmp_path):
    seg = np.array([[0, 300], [300, 5]], np.uint16)
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, seg)
    out = LoadWideSegMap()(
        dict(seg_map_path=path, label_map={0: 0, 5: 2, 300: 1}))
    np.testing.assert_array_equal(out['gt_seg_map'], [[0, 1], [1, 2]])
    assert out['gt_seg_map'].dtype == np.uint8


def test_a_value_missing_from_the_map_names_the_file():
    with pytest.raises(ValueError, match=r'x\.png has label values \[9\]'):
        apply_label_map(np.array([[0, 9]]), {0: 0}, 'x.png')


def test_colour_label_maps_and_reduce_zero_label_are_refused(tmp_path):
    path = str(tmp_path / 'rgb.png')
    cv2.imwrite(path, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='single-channel'):
        LoadWideSegMap()(dict(seg_map_path=path))
    with pytest.raises(ValueError, match='zero label'):
        LoadWideSegMap()(dict(seg_map_path=path, reduce_zero_label=True))
