"""Backbones registered into mmdet's and mmseg's MODELS."""
from .efficientnet_lite import (EfficientNetLite, build_efficientnet_lite,
                                packaged_imagenet_weights)

__all__ = [
    'EfficientNetLite', 'build_efficientnet_lite', 'packaged_imagenet_weights'
]
