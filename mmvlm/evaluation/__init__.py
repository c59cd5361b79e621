"""Evaluation of mmvlm (metrics registered into mmdet's / mmseg's METRICS)."""
from .metrics import *  # noqa: F401,F403
