"""Language-guided mmpretrain classification heads (stock head + the
shared mixin); imported only when mmpretrain is installed."""
from mmvlm.registry import codebase_available

__all__ = []
if codebase_available('mmpretrain'):
    from .language_guided_cls_head import LanguageGuidedClsHead
    from .language_guided_multi_label_cls_head import \
        LanguageGuidedMultiLabelClsHead
    __all__ += ['LanguageGuidedClsHead', 'LanguageGuidedMultiLabelClsHead']
