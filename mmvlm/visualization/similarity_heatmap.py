"""Per-prompt pixel-text similarity heat-maps (interpretability)."""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .label_text import (FONT_SIZE, MIN_DRAW_SIZE, draw_title, font_for,
                         label_of, place_labels, upscale, upscale_factor)

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
        out, _ = place_labels(out, [(title, (2, 2, 2, 2), (0, 0, 0))])
    return out


def save_similarity_heatmaps(image: np.ndarray,
                             similarities: ArrayLike,
                             prompts: Sequence[Union[str, Sequence[str]]],
                             out_dir: str,
                             prefix: str = 'similarity',
                             alpha: float = 0.5,
                             min_size: int = MIN_DRAW_SIZE) -> List[str]:
    """Write one heat-map PNG per prompt, titled with the prompt.

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
        min_size (int): Small images are enlarged to this longer side
            (see :func:`draw_prompt_heatmap`); 0 keeps the size.

    Returns:
        list[str]: Paths of the written PNGs (drawn by
        :func:`draw_prompt_heatmap`),
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
        vis = draw_prompt_heatmap(image, sim, prompt, alpha, value_range,
                                  min_size)
        path = osp.join(out_dir, f'{prefix}_{i}_{prompt_slug(prompt)}.png')
        cv2.imwrite(path, cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def _colour_bar(height: int,
                low: float,
                high: float,
                width: int = 18) -> np.ndarray:
    """A vertical jet colour bar (high on top) with its two end values."""
    from PIL import Image, ImageDraw
    ramp = np.linspace(255, 0, height).astype(np.uint8)[:, None]
    bar = cv2.applyColorMap(np.repeat(ramp, width, axis=1),
                            cv2.COLORMAP_JET)[..., ::-1]
    labels = (f'{high:.2g}', f'{low:.2g}')
    font, _ = font_for('0.123456789-e+', FONT_SIZE - 2)
    text_width = max(int(font.getlength(t)) for t in labels) + 8
    panel = Image.new('RGB', (width + text_width, height), (255, 255, 255))
    panel.paste(Image.fromarray(np.ascontiguousarray(bar)), (0, 0))
    draw = ImageDraw.Draw(panel)
    draw.text((width + 3, 0), labels[0], font=font, fill=(0, 0, 0))
    draw.text((width + 3, height - FONT_SIZE - 2),
              labels[1],
              font=font,
              fill=(0, 0, 0))
    return np.asarray(panel)


def draw_prompt_heatmap(image: np.ndarray,
                        similarity: ArrayLike,
                        prompt: Union[str, Sequence[str]],
                        alpha: float = 0.5,
                        value_range: Optional[tuple] = None,
                        min_size: int = MIN_DRAW_SIZE) -> np.ndarray:
    """Draw how strongly each location of an image matches one prompt.

    The similarity map is resized to the image, coloured with jet (blue:
    low, red: high) and blended over it; the picture is enlarged for
    reading (small images to ``min_size``), the prompt is written in a
    title strip above it (with a font that has its script's glyphs) and a
    colour bar with the value range is added on the right.

    Where the maps come from: a language-guided segmentor's
    ``model.pixel_text_similarity(inputs, prompts)`` gives ``[N, P, h, w]``
    (one map per prompt); for a detector, any ``[h, w]`` per-prompt score
    map works, e.g. the classification logits of one FPN level for that
    prompt. Pass one image's map of one prompt; for maps to compare across
    prompts give them all the same ``value_range``.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        similarity (np.ndarray | Tensor): ``[h, w]`` (or ``[1, h, w]``)
            similarity of each location with the prompt; resized to
            ``[H, W]`` (bilinear). Cut any padding off beforehand.
        prompt (str | Sequence[str]): The prompt (the first synonym of a
            tuple is shown).
        alpha (float): Weight of the heat-map in the blend. Default 0.5.
        value_range (tuple[float, float], optional): ``(low, high)``
            mapped to blue / red; default the map's own min / max.
        min_size (int): Images whose longer side is below this are
            enlarged by an integer factor to reach it; 0 keeps the size.
            Default 640.

    Returns:
        np.ndarray: uint8 RGB picture of shape
        ``[k * H + title, k * W + colour bar, 3]``, ``k`` the zoom.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError('image must be a [H, W, 3] uint8 RGB array, got '
                         f'shape {image.shape} and dtype {image.dtype}.')
    sim = _to_numpy(similarity).astype(np.float32)
    if sim.ndim == 3 and sim.shape[0] == 1:
        sim = sim[0]
    if sim.ndim != 2:
        raise ValueError(
            f'similarity must be one [h, w] map for prompt {prompt!r}, got '
            f'shape {sim.shape}; index the prompt, e.g. sims[0, p].')
    if not np.isfinite(sim).all():
        raise ValueError(f'The similarity map of prompt {prompt!r} holds '
                         'NaN or inf values; check the model outputs.')
    low, high = value_range or (float(sim.min()), float(sim.max()))
    factor = upscale_factor(*image.shape[:2], min_size)
    big = upscale(image, factor)
    blended = similarity_heatmap(big, sim, None, alpha, (low, high))
    bar = _colour_bar(blended.shape[0], low, high)
    picture = np.concatenate(
        [blended,
         np.full((blended.shape[0], 6, 3), 255, np.uint8), bar],
        axis=1)
    return draw_title(picture, label_of(prompt))
