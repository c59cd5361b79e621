"""Per-prompt pixel-text similarity heat-maps (interpretability)."""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def prompt_slug(prompt: Union[str, Sequence[str]]) -> str:
    """A file-name friendly form of a prompt (first synonym)."""
    text = prompt if isinstance(prompt, str) else prompt[0]
    slug = re.sub(r'[^A-Za-z0-9]+', '-', text).strip('-').lower()
    return slug or 'prompt'


def similarity_heatmap(image: np.ndarray,
                       similarity: ArrayLike,
                       title: Optional[str] = None,
                       alpha: float = 0.5,
                       value_range: Optional[tuple] = None) -> np.ndarray:
    """Blend a jet colour map of one similarity map over the image.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        similarity (np.ndarray | Tensor): ``[h, w]`` map; resized to the
            image.
        title (str, optional): Text drawn in the top-left corner.
        alpha (float): Weight of the heat-map. Default 0.5.
        value_range (tuple, optional): ``(low, high)`` mapped to blue / red;
            default the map's own min / max.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB image.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be [H, W, 3], got {image.shape}.')
    sim = _to_numpy(similarity).astype(np.float32)
    if sim.ndim != 2:
        raise ValueError(f'similarity must be [h, w], got {sim.shape}.')
    low, high = value_range or (float(sim.min()), float(sim.max()))
    norm = (sim - low) / max(high - low, 1e-8)
    norm = np.clip(norm, 0, 1)
    norm = cv2.resize(norm, (image.shape[1], image.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    out = (image.astype(np.float32) * (1 - alpha) +
           heat.astype(np.float32) * alpha).astype(np.uint8)
    if title:
        cv2.putText(out, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out


def save_similarity_heatmaps(image: np.ndarray,
                             similarities: ArrayLike,
                             prompts: Sequence[Union[str, Sequence[str]]],
                             out_dir: str,
                             prefix: str = 'similarity',
                             alpha: float = 0.5) -> List[str]:
    """Write one heat-map PNG per prompt.

    All maps share one colour scale (the min / max over prompts), so the
    colours compare across prompts.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        similarities (np.ndarray | Tensor): ``[P, h, w]`` maps, e.g. from
            ``LanguageGuidedEncoderDecoder.pixel_text_similarity``.
        prompts (Sequence): The ``P`` prompts (used in titles and names).
        out_dir (str): Output folder (created).
        prefix (str): File-name prefix.
        alpha (float): Heat-map weight.

    Returns:
        list[str]: Paths of the written PNGs,
        ``<prefix>_<i>_<prompt>.png``.
    """
    sims = _to_numpy(similarities)
    if sims.ndim != 3 or sims.shape[0] != len(prompts):
        raise ValueError(f'{len(prompts)} prompts for similarity maps of '
                         f'shape {sims.shape}; expected [P, h, w].')
    os.makedirs(out_dir, exist_ok=True)
    value_range = (float(sims.min()), float(sims.max()))
    paths = []
    for i, (sim, prompt) in enumerate(zip(sims, prompts)):
        title = prompt if isinstance(prompt, str) else prompt[0]
        vis = similarity_heatmap(image, sim, title, alpha, value_range)
        path = osp.join(out_dir, f'{prefix}_{i}_{prompt_slug(prompt)}.png')
        cv2.imwrite(path, cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths
