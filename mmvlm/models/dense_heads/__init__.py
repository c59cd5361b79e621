"""Language-guided dense detection heads (mmdet)."""
from .language_guided_atss_head import LanguageGuidedATSSHead
from .language_guided_fcos_head import LanguageGuidedFCOSHead
from .language_guided_retina_head import LanguageGuidedRetinaHead

__all__ = [
    'LanguageGuidedATSSHead', 'LanguageGuidedFCOSHead',
    'LanguageGuidedRetinaHead'
]
