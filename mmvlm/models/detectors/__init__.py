"""Language-guided detectors (mmdet)."""
from .language_guided_detector import LanguageGuidedDetector
from .language_guided_detector_mixin import LanguageGuidedDetectorMixin
from .language_guided_two_stage_detector import LanguageGuidedTwoStageDetector

__all__ = [
    'LanguageGuidedDetector', 'LanguageGuidedDetectorMixin',
    'LanguageGuidedTwoStageDetector'
]
