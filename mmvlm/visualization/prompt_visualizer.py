"""Heat-maps and mask overlays of one image for free-text prompts."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .prompt_mask_overlay import save_prompt_mask_overlay
from .similarity_heatmap import save_similarity_heatmaps


@torch.no_grad()
def visualize_prompts(model,
                      image: Union[str, np.ndarray],
                      prompts: Sequence[Union[str, Sequence[str]]],
                      out_dir: str,
                      threshold: Optional[float] = None,
                      name: Optional[str] = None) -> Dict[str, List[str]]:
    """Write per-prompt similarity heat-maps and a labelled mask overlay.

    Args:
        model (LanguageGuidedEncoderDecoder): The segmentor (eval mode is
            set here).
        image (str | np.ndarray): Image path, or an ``[H, W, 3]`` uint8 RGB
            array.
        prompts (Sequence): Free-text prompts ("polyp", "left kidney").
        out_dir (str): Output folder.
        threshold (float, optional): Binary-head threshold override.
        name (str, optional): File-name stem; default the image's stem or
            ``'image'``.

    Returns:
        dict: ``heatmaps`` (one PNG per prompt) and ``overlay`` (one PNG).
    """
    if isinstance(image, str):
        bgr = cv2.imread(image)
        if bgr is None:
            raise FileNotFoundError(f'Cannot read image {image!r}.')
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        name = name or osp.splitext(osp.basename(image))[0]
    else:
        rgb = np.asarray(image)
        name = name or 'image'
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'image must be [H, W, 3], got {rgb.shape}.')
    model.eval()
    # the data preprocessor expects BGR uint8 CHW like LoadImageFromFile
    chw = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1])).permute(
        2, 0, 1)
    data = model.data_preprocessor(dict(inputs=[chw]), False)
    inputs = data['inputs']
    height, width = rgb.shape[:2]
    sims = model.pixel_text_similarity(inputs, prompts)[0, :, :height, :width]
    results = model.predict_prompts(inputs, prompts, threshold=threshold)
    masks = results[0].pred_prompt_masks.data[:, :height, :width]
    heatmaps = save_similarity_heatmaps(rgb,
                                        sims,
                                        prompts,
                                        out_dir,
                                        prefix=f'{name}_similarity')
    overlay = save_prompt_mask_overlay(rgb, masks, prompts,
                                       osp.join(out_dir, f'{name}_masks.png'))
    return dict(heatmaps=heatmaps, overlay=[overlay])
