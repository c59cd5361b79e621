"""Visualisation: per-prompt similarity heat-maps, prompt-labelled boxes and
regions drawn to be read (enlarged, labels without overlap, a legend when
crowded, fonts with the prompts' glyphs), and rendered pipeline samples.

This layer draws arrays and data samples; computing the maps of an image
with a model is :mod:`mmvlm.apis.prompt_maps`."""
from .dataset_browser import browse_dataset, render_sample
from .prompt_detections import draw_prompt_detections
from .prompt_mask_overlay import (DEFAULT_PALETTE, draw_prompt_segmentation,
                                  prompt_mask_overlay,
                                  save_prompt_mask_overlay)
from .prompt_visualizer import visualize_prompts
from .label_text import (draw_legend, find_font, place_labels,
                         register_fallback_fonts)
from .similarity_heatmap import (draw_prompt_heatmap, prompt_slug,
                                 save_similarity_heatmaps, similarity_heatmap)

__all__ = [
    'DEFAULT_PALETTE', 'browse_dataset', 'draw_legend',
    'draw_prompt_detections', 'draw_prompt_heatmap',
    'draw_prompt_segmentation', 'find_font', 'place_labels',
    'register_fallback_fonts', 'prompt_mask_overlay', 'prompt_slug',
    'render_sample', 'save_prompt_mask_overlay', 'save_similarity_heatmaps',
    'similarity_heatmap', 'visualize_prompts'
]

