"""Visualisation of arrays and data samples: per-prompt heat-maps,
prompt-labelled boxes and regions drawn to be read, rendered pipeline
samples. Running a model for them is :mod:`mmvlm.apis`."""
from .dataset_browser import browse_dataset, render_sample
from .prompt_detections import draw_prompt_detections
from .label_text import (draw_legend, find_font, place_labels,
                         register_fallback_fonts)
from .prompt_heatmap import draw_prompt_heatmap, prompt_slug
from .prompt_segmentation import DEFAULT_PALETTE, draw_prompt_segmentation

__all__ = [
    'DEFAULT_PALETTE', 'browse_dataset', 'draw_legend',
    'draw_prompt_detections', 'draw_prompt_heatmap',
    'draw_prompt_segmentation', 'find_font', 'place_labels',
    'register_fallback_fonts', 'prompt_slug', 'render_sample'
]

