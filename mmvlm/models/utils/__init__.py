"""Model helpers shared by mmvlm's detectors and segmentors (no mmdet /
mmseg import)."""
from .language_guided_model_mixin import LanguageGuidedModelMixin
from .stock_checkpoint import (register_stock_checkpoint_hook,
                               report_stock_checkpoint, warm_start_from_stock)

__all__ = [
    'LanguageGuidedModelMixin', 'register_stock_checkpoint_hook',
    'report_stock_checkpoint', 'warm_start_from_stock'
]
