"""Loading of label maps of any bit depth, with a value -> class map."""
from typing import Dict, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from mmvlm.registry import TRANSFORMS


def apply_label_map(seg_map: np.ndarray, label_map: Dict[int, int],
                    path: str = '<array>') -> np.ndarray:
    """Map every value of a label map through a lookup table.

    Args:
        seg_map (np.ndarray): ``[H, W]`` integer label map.
        label_map (dict[int, int]): Value -> new value; every value of
            ``seg_map`` must have an entry.
        path (str): The file, named in errors.

    Returns:
        np.ndarray: ``[H, W]`` mapped values, the smallest unsigned dtype
        (uint8 / uint16 / int64) that holds them.

    Raises:
        ValueError: A value of ``seg_map`` has no entry.
    """
    size = max(max(label_map) + 1, int(seg_map.max()) + 1)
    lut = np.full(size, -1, dtype=np.int64)
    for old, new in label_map.items():
        lut[old] = new
    out = lut[seg_map]
    if (out < 0).any():
        bad = np.unique(seg_map[out < 0])[:5].tolist()
        raise ValueError(
            f'{path} has label values {bad} that the label map does not '
            f'list (it names {len(label_map)} values): regenerate the label '
            'maps or give the dataset the full value_names.')
    top = int(out.max()) if out.size else 0
    dtype = np.uint8 if top <= 255 else np.uint16 if top <= 65535 \
        else np.int64
    return out.astype(dtype)


@TRANSFORMS.register_module()
class LoadWideSegMap(BaseTransform):
    """Load a semantic label map without narrowing it to 8 bits.

    mmseg's ``LoadAnnotations`` casts every label map to ``uint8``, which
    wraps values above 255. This loads the file unchanged (e.g. 16-bit
    PNGs of hundreds of classes) and applies the sample's ``label_map``
    (set by :class:`~mmvlm.datasets.NamedLabelMapDataset`, or mmseg's
    class subset map) with a lookup table.

    Required keys: ``seg_map_path``; optional ``label_map``.
    Added keys: ``gt_seg_map`` (``[H, W]`` uint8 / uint16), ``seg_fields``.

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Load ``results['seg_map_path']`` into ``gt_seg_map``.

        Args:
            results (dict): The sample.

        Returns:
            dict: The sample with ``gt_seg_map``.

        Raises:
            ValueError: ``reduce_zero_label`` is set (not supported: map
                value 0 in ``label_map`` instead), the file is not a
                single-channel image, or it has values the map lacks.
        """
        path = results['seg_map_path']
        if results.get('reduce_zero_label'):
            raise ValueError(
                f'LoadWideSegMap does not reduce the zero label ({path}): '
                'map value 0 to the ignore value in the label map instead.')
        seg_map = mmcv.imfrombytes(
            fileio.get(path, backend_args=self.backend_args),
            flag='unchanged',
            backend='cv2')
        if seg_map is None or seg_map.ndim != 2:
            shape = None if seg_map is None else seg_map.shape
            raise ValueError(
                f'{path} is not a single-channel label map (shape '
                f'{shape}): write one integer class value per pixel.')
        label_map = results.get('label_map')
        if label_map:
            seg_map = apply_label_map(seg_map, label_map, path)
        results['gt_seg_map'] = seg_map
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'
