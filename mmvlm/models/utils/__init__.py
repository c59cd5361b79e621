"""Model helpers shared by mmvlm's detectors and segmentors (no mmdet /
mmseg import)."""
from .language_guided_model_mixin import LanguageGuidedModelMixin

__all__ = ['LanguageGuidedModelMixin']
