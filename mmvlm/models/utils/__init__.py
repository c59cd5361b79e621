"""The two mixins that make stock mmdet / mmseg classes language-guided
(one for heads, one for detectors and segmentors) and stock-checkpoint
loading; no mmdet / mmseg import."""
from .language_guided_head_mixin import LanguageGuidedHeadMixin
from .language_guided_model_mixin import LanguageGuidedModelMixin
from .stock_checkpoint import (language_guided_head_names,
                               register_stock_checkpoint_hook,
                               report_stock_checkpoint, stock_tensors,
                               warm_start_from_stock, warm_started_prefixes)

__all__ = [
    'LanguageGuidedHeadMixin', 'LanguageGuidedModelMixin',
    'language_guided_head_names',
    'register_stock_checkpoint_hook', 'report_stock_checkpoint',
    'stock_tensors', 'warm_start_from_stock', 'warm_started_prefixes'
]
