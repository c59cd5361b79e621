"""Detection metrics of mmvlm."""
from .open_vocabulary_coco_metric import (COCO_OV_BASE_CLASSES,
                                          COCO_OV_NOVEL_CLASSES,
                                          OpenVocabularyCocoMetric)

__all__ = [
    'COCO_OV_BASE_CLASSES', 'COCO_OV_NOVEL_CLASSES',
    'OpenVocabularyCocoMetric'
]
