"""PhraseMasksToSegMap: phrase masks painted into a label map."""
import numpy as np
import pytest
from mmdet.structures.mask import BitmapMasks
from pycocotools import mask as mask_utils

from mmvlm.datasets import PhraseMasksToSegMap

H, W = 10, 12


def square(x0, y0, x1, y1):
    """COCO polygon of the pixel block [x0, x1) x [y0, y1)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def rle_of(block):
    y0, y1, x0, x1 = block
    mask = np.zeros((H, W), dtype=np.uint8, order='F')
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle['counts'] = rle['counts'].decode()
    return rle


def results():
    # phrase 0: big block (polygon); phrase 1: small block inside it (RLE);
    # phrase 2: separate block; an ignored instance must not be painted.
    return dict(
        text=('a person', 'a cup', 'a dog'),
        height=H,
        width=W,
        instances=[
            dict(mask=square(0, 0, 8, 8), bbox_label=0, ignore_flag=0),
            dict(mask=rle_of((2, 4, 2, 4)), bbox_label=1, ignore_flag=0),
            dict(mask=square(9, 0, 12, 3), bbox_label=2, ignore_flag=0),
            dict(mask=square(9, 6, 12, 10), bbox_label=2, ignore_flag=1),
        ])


def test_smaller_mask_wins_and_unlabelled_is_ignored():
    out = PhraseMasksToSegMap()(results())
    seg = out['gt_seg_map']
    assert seg.shape == (H, W) and seg.dtype == np.uint8
    assert out['seg_fields'] == ['gt_seg_map']
    assert (seg[2:4, 2:4] == 1).all()  # the cup inside the person
    person = np.zeros((H, W), bool)
    person[0:8, 0:8] = True
    person[2:4, 2:4] = False
    assert (seg[person] == 0).all()
    assert (seg[0:3, 9:12] == 2).all()
    assert (seg[6:10, 9:12] == 255).all()  # ignored instance not painted
    assert (seg[8:, :8] == 255).all()
    assert np.count_nonzero(seg != 255) == 64 + 9


def test_overlap_ignore():
    seg = PhraseMasksToSegMap(overlap='ignore')(results())['gt_seg_map']
    assert (seg[2:4, 2:4] == 255).all()
    assert seg[0, 0] == 0 and seg[0, 10] == 2


def test_from_gt_masks_of_mmdet_load_annotations():
    masks = np.zeros((2, H, W), dtype=np.uint8)
    masks[0, :5] = 1
    masks[1, 5:] = 1
    out = PhraseMasksToSegMap()(
        dict(
            text=('sky', 'road', ''),
            gt_masks=BitmapMasks(masks, H, W),
            gt_bboxes_labels=np.array([1, 0])))
    seg = out['gt_seg_map']
    assert (seg[:5] == 1).all() and (seg[5:] == 0).all()


def test_errors():
    bad = results()
    bad['text'] = ('only one', )
    with pytest.raises(ValueError, match=r'\[1, 2\] do not index'):
        PhraseMasksToSegMap()(bad)
    with pytest.raises(ValueError, match='overlap'):
        PhraseMasksToSegMap(overlap='largest')
    no_size = results()
    del no_size['height'], no_size['width']
    with pytest.raises(KeyError, match='image size'):
        PhraseMasksToSegMap()(no_size)
