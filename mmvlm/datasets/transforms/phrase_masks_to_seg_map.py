"""Turn per-phrase instance masks into a label map for segmentation."""
from typing import List, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from mmvlm.registry import TRANSFORMS

OVERLAP_MODES = ('smaller', 'ignore')


def decode_mask(mask_ann, height: int, width: int) -> np.ndarray:
    """Rasterise a COCO mask annotation (polygons or RLE).

    Args:
        mask_ann (list | dict): Polygons ``[[x0, y0, x1, y1, ...], ...]``,
            or an RLE dict (``counts`` as a list or a compressed string).
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: ``[height, width]`` uint8 mask.
    """
    from pycocotools import mask as mask_utils
    if isinstance(mask_ann, list):
        polygons = [p for p in mask_ann if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), dtype=np.uint8)
        rle = mask_utils.merge(
            mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(mask_ann, dict) and 'counts' in mask_ann:
        rle = mask_ann
        if isinstance(rle['counts'], list):
            rle = mask_utils.frPyObjects(rle, height, width)
    else:
        raise TypeError('A mask must be COCO polygons (a list) or an RLE '
                        f'dict with "counts", got {type(mask_ann).__name__}.')
    return mask_utils.decode(rle).astype(np.uint8)


@TRANSFORMS.register_module()
class PhraseMasksToSegMap(BaseTransform):
    """Paint the masks of a phrase-grounding sample into ``gt_seg_map``.

    For language-guided *segmentation* on referring / phrase-grounding data
    (:class:`PhraseGroundingDataset` with RefCOCO-style masks): pixel value
    ``k`` means phrase ``text[k]``; pixels that no phrase covers are
    ``ignore_index`` (referring data do not label the rest of the image).

    The masks come from ``gt_masks`` + ``gt_bboxes_labels`` when mmdet's
    ``LoadAnnotations(with_mask=True)`` ran, else from the ``mask`` and
    ``bbox_label`` of ``results['instances']`` (COCO polygons or RLE, drawn
    at ``height`` x ``width`` of the sample), so no mmdet transform is
    needed in an mmseg pipeline. Run it before the geometric transforms;
    ``gt_seg_map`` is added to ``seg_fields`` so they transform it.

    Args:
        overlap (str): Pixels covered by masks of different phrases:
            ``'smaller'`` gives them to the smaller mask (a cup held by a
            person stays a cup), ``'ignore'`` sets them to ``ignore_index``.
            Defaults to ``'smaller'``.
        ignore_index (int): Value of unlabelled pixels. Defaults to 255.
    """

    def __init__(self, overlap: str = 'smaller',
                 ignore_index: int = 255) -> None:
        if overlap not in OVERLAP_MODES:
            raise ValueError(f'overlap must be one of {OVERLAP_MODES}, got '
                             f'{overlap!r}.')
        self.overlap = overlap
        self.ignore_index = ignore_index

    def _masks_and_labels(
            self, results: dict) -> Tuple[List[np.ndarray], List[int], tuple]:
        if results.get('gt_masks') is not None:
            gt_masks = results['gt_masks']
            masks = gt_masks.to_ndarray() if hasattr(
                gt_masks, 'to_ndarray') else np.asarray(gt_masks)
            labels = np.asarray(results['gt_bboxes_labels']).tolist()
            shape = masks.shape[1:] if len(masks) else tuple(
                results['img_shape'][:2])
            return list(masks), labels, tuple(shape)
        height, width = self._size(results)
        masks, labels = [], []
        for instance in results.get('instances', []):
            if instance.get('ignore_flag', 0) or 'mask' not in instance:
                continue
            masks.append(decode_mask(instance['mask'], height, width))
            labels.append(int(instance['bbox_label']))
        return masks, labels, (height, width)

    @staticmethod
    def _size(results: dict) -> Tuple[int, int]:
        if results.get('height') and results.get('width'):
            return int(results['height']), int(results['width'])
        for key in ('ori_shape', 'img_shape'):
            if key in results:
                return tuple(int(v) for v in results[key][:2])
        raise KeyError(
            'PhraseMasksToSegMap needs the image size: put it after '
            'LoadImageFromFile or give height/width in the data info.')

    def transform(self, results: dict) -> dict:
        """Build ``gt_seg_map`` from the phrase masks.

        Args:
            results (dict): Result dict with ``text`` and masks.

        Returns:
            dict: ``results`` with ``gt_seg_map`` (uint8 when the values
            fit, else int32) and ``seg_fields``.
        """
        masks, labels, shape = self._masks_and_labels(results)
        num_texts = len(results.get('text') or ())
        bad = [k for k in labels if not 0 <= k < num_texts]
        if bad:
            raise ValueError(
                f'Mask label(s) {sorted(set(bad))} do not index into the '
                f'sample vocabulary of {num_texts} entries.')
        dtype = np.uint8 if max(num_texts - 1, self.ignore_index) <= 255 \
            else np.int32
        seg_map = np.full(shape, self.ignore_index, dtype=dtype)
        areas = [int(m.sum()) for m in masks]
        # Largest first, so that smaller masks are painted over them.
        for index in np.argsort(areas, kind='stable')[::-1]:
            seg_map[masks[index] > 0] = labels[index]
        if self.overlap == 'ignore' and len(masks) > 1:
            owner = np.full(shape, -1, dtype=np.int64)
            clash = np.zeros(shape, dtype=bool)
            for mask, label in zip(masks, labels):
                on = mask > 0
                clash |= on & (owner >= 0) & (owner != label)
                owner[on] = label
            seg_map[clash] = self.ignore_index
        results['gt_seg_map'] = seg_map
        seg_fields = list(results.get('seg_fields', []))
        if 'gt_seg_map' not in seg_fields:
            seg_fields.append('gt_seg_map')
        results['seg_fields'] = seg_fields
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(overlap={self.overlap!r}, '
                f'ignore_index={self.ignore_index})')
