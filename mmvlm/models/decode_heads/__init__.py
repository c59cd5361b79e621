"""Language-guided mmseg decode heads (stock head + pixel-text classifier)."""
from .language_guided_decode_head_mixin import LanguageGuidedDecodeHeadMixin
from .language_guided_fcn_head import LanguageGuidedFCNHead
from .language_guided_fpn_head import LanguageGuidedFPNHead
from .language_guided_segformer_head import LanguageGuidedSegformerHead
from .language_guided_uper_head import LanguageGuidedUPerHead
from .score_map_mixin import ScoreMapMixin

__all__ = [
    'LanguageGuidedDecodeHeadMixin', 'LanguageGuidedFCNHead',
    'LanguageGuidedFPNHead', 'LanguageGuidedSegformerHead',
    'LanguageGuidedUPerHead', 'ScoreMapMixin'
]
