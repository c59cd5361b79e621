"""Language-guided RoI heads (mmdet)."""
from .language_guided_bbox_head import LanguageGuidedBBoxHead
from .language_guided_standard_roi_head import LanguageGuidedStandardRoIHead

__all__ = ['LanguageGuidedBBoxHead', 'LanguageGuidedStandardRoIHead']
