"""Language-guided detectors (mmdet)."""
from mmvlm.structures import deduplicate
from .language_guided_detector import LanguageGuidedDetector
from .language_guided_detector_mixin import (LanguageGuidedDetectorMixin,
                                             resolve_vocabulary)
from .language_guided_two_stage_detector import LanguageGuidedTwoStageDetector

__all__ = [
    'LanguageGuidedDetector', 'LanguageGuidedDetectorMixin',
    'LanguageGuidedTwoStageDetector', 'deduplicate', 'resolve_vocabulary'
]
