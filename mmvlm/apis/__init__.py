"""Python inference API of mmvlm (detection)."""
from ..registry import codebase_available

if codebase_available('mmdet'):
    from .det_inference import (detect, detect_and_draw, draw_detections,
                                init_language_guided_detector)

    __all__ = [
        'detect', 'detect_and_draw', 'draw_detections',
        'init_language_guided_detector'
    ]
