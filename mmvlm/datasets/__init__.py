"""Multimodal data of mmvlm: texts travel with every sample.

Importing this registers the text transforms (mmdet and mmseg TRANSFORMS),
:class:`MultiModalDataset` (both DATASETS), with mmseg installed
:class:`NamedLabelMapDataset` (label maps of many names) and, with mmdet
installed, :class:`PhraseGroundingDataset` (both DATASETS: it feeds
detection and, through :class:`PhraseMasksToSegMap`, segmentation). See
``docs/datasets.md``.
"""
from ..registry import codebase_available
from .class_texts import load_class_texts, truncate_text
from .meta_keys import DET_TEXT_META_KEYS, SEG_TEXT_META_KEYS, TEXT_META_KEYS
from .multimodal_dataset import MultiModalDataset
from .transforms import (LoadClassTexts, LoadWideSegMap, PhraseMasksToSegMap,
                         RandomSampleNegativeTexts, TextRandomState)

__all__ = [
    'DET_TEXT_META_KEYS', 'LoadClassTexts', 'LoadWideSegMap',
    'MultiModalDataset', 'PhraseMasksToSegMap', 'RandomSampleNegativeTexts',
    'SEG_TEXT_META_KEYS', 'TEXT_META_KEYS', 'TextRandomState',
    'load_class_texts', 'truncate_text'
]

if codebase_available('mmdet'):
    from .phrase_grounding_dataset import PhraseGroundingDataset  # noqa
    __all__ += ['PhraseGroundingDataset']

if codebase_available('mmseg'):
    from .named_label_map_dataset import NamedLabelMapDataset  # noqa
    __all__ += ['NamedLabelMapDataset']
    from .medical import *  # noqa: F401,F403
