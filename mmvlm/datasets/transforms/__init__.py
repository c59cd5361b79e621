"""Text transforms of mmvlm, registered in mmdet's and mmseg's TRANSFORMS."""
from .load_class_texts import LoadClassTexts
from .load_wide_seg_map import LoadWideSegMap, apply_label_map
from .phrase_masks_to_seg_map import PhraseMasksToSegMap
from .random_sample_negative_texts import RandomSampleNegativeTexts
from .random_state import TextRandomState

__all__ = [
    'LoadClassTexts', 'LoadWideSegMap', 'PhraseMasksToSegMap',
    'RandomSampleNegativeTexts', 'TextRandomState', 'apply_label_map'
]
