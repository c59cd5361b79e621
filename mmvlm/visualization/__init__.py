"""Visualisation of language-guided segmentation: per-prompt heat-maps and
prompt-labelled mask overlays."""
from .prompt_mask_overlay import (DEFAULT_PALETTE, prompt_mask_overlay,
                                  save_prompt_mask_overlay)
from .prompt_visualizer import visualize_prompts
from .similarity_heatmap import (prompt_slug, save_similarity_heatmaps,
                                 similarity_heatmap)

__all__ = [
    'DEFAULT_PALETTE', 'prompt_mask_overlay', 'prompt_slug',
    'save_prompt_mask_overlay', 'save_similarity_heatmaps',
    'similarity_heatmap', 'visualize_prompts'
]
