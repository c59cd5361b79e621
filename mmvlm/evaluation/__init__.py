"""Evaluation of mmvlm (registered into mmdet's METRICS when installed)."""
from ..registry import codebase_available

if codebase_available('mmdet'):
    from .metrics import *  # noqa: F401,F403

if codebase_available('mmseg'):
    from .open_vocabulary_iou_metric import OpenVocabularyIoUMetric  # noqa
