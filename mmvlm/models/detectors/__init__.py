"""Language-guided detectors (mmdet)."""
from .batch_vocabulary import BatchVocabulary, deduplicate, parse_prompts
from .language_guided_detector import LanguageGuidedDetector
from .language_guided_detector_mixin import (LanguageGuidedDetectorMixin,
                                             resolve_vocabulary)
from .language_guided_two_stage_detector import LanguageGuidedTwoStageDetector

__all__ = [
    'BatchVocabulary', 'LanguageGuidedDetector', 'LanguageGuidedDetectorMixin',
    'LanguageGuidedTwoStageDetector', 'deduplicate', 'parse_prompts',
    'resolve_vocabulary'
]
