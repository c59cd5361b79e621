"""Evaluation of mmvlm: metrics registered into mmdet's / mmseg's METRICS
and the results table of work dirs."""
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all
from .prompt_evaluation import (MODES, PromptScorer, ScoringPass,
                                check_scored_vocabulary,
                                evaluate_prompts_on_loader, prompt_table,
                                scoring_passes)
from .prompt_mapping import PromptForClass, parse_prompts_for_classes
from .results_table import gather_results, results_to_markdown

__all__ = list(_metrics_all) + [
    'gather_results', 'results_to_markdown', 'MODES', 'PromptScorer',
    'ScoringPass', 'check_scored_vocabulary', 'evaluate_prompts_on_loader',
    'prompt_table', 'scoring_passes', 'PromptForClass',
    'parse_prompts_for_classes'
]
