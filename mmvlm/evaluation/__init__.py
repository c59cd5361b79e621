"""Evaluation of mmvlm: metrics registered into mmdet's / mmseg's METRICS
and the results table of work dirs."""
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all
from .results_table import gather_results, results_to_markdown

__all__ = list(_metrics_all) + ['gather_results', 'results_to_markdown']
