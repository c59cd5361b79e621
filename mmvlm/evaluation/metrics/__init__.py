"""Metrics of mmvlm; each is imported only when its codebase is installed."""
from ...registry import codebase_available

__all__ = []

if codebase_available('mmdet'):
    from .open_vocabulary_coco_metric import (COCO_OV_BASE_CLASSES,
                                              COCO_OV_NOVEL_CLASSES,
                                              OpenVocabularyCocoMetric)
    __all__ += [
        'COCO_OV_BASE_CLASSES', 'COCO_OV_NOVEL_CLASSES',
        'OpenVocabularyCocoMetric'
    ]

if codebase_available('mmseg'):
    from .open_vocabulary_iou_metric import OpenVocabularyIoUMetric
    __all__ += ['OpenVocabularyIoUMetric']
