"""Registered inferencers of language-guided models, over mmdet's
``DetInferencer`` and mmseg's ``MMSegInferencer``."""
from mmvlm.registry import codebase_available
from .inference_pipeline import (ImagePipeline, inference_pipeline,
                                 read_image)
from .language_guided_inferencer import LanguageGuidedInferencerMixin

__all__ = [
    'ImagePipeline', 'LanguageGuidedInferencerMixin', 'inference_pipeline',
    'read_image'
]

if codebase_available('mmdet'):
    from .det_inferencer import LanguageGuidedDetInferencer, draw_detections
    __all__ += ['LanguageGuidedDetInferencer', 'draw_detections']

if codebase_available('mmseg'):
    from .seg_inferencer import LanguageGuidedSegInferencer, draw_segmentation
    __all__ += ['LanguageGuidedSegInferencer', 'draw_segmentation']
