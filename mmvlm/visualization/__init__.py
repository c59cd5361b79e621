"""Visualisation: per-prompt heat-maps and prompt-labelled mask overlays of
language-guided segmentation, and rendered pipeline samples."""
from .dataset_browser import browse_dataset, render_sample
from .prompt_mask_overlay import (DEFAULT_PALETTE, prompt_mask_overlay,
                                  save_prompt_mask_overlay)
from .prompt_visualizer import visualize_prompts
from .label_text import draw_legend, find_font, place_labels
from .similarity_heatmap import (draw_prompt_heatmap, prompt_slug,
                                 save_similarity_heatmaps, similarity_heatmap)

__all__ = [
    'DEFAULT_PALETTE', 'browse_dataset', 'draw_legend', 'draw_prompt_heatmap',
    'find_font', 'place_labels', 'prompt_mask_overlay', 'prompt_slug',
    'render_sample', 'save_prompt_mask_overlay', 'save_similarity_heatmaps',
    'similarity_heatmap', 'visualize_prompts'
]
