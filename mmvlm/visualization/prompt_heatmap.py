"""The heat-map of how strongly each location of an image matches one
prompt."""
import re
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .label_text import (FONT_SIZE, MIN_DRAW_SIZE, draw_title, font_for,
                         label_of, upscale, upscale_factor)

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

    The maps of a model come from
    :func:`mmvlm.apis.prompt_maps.prompt_similarity_maps` (which
    :func:`mmvlm.apis.prompt_maps.save_prompt_heatmaps` draws with this
    function); for maps to compare across prompts give them all the same
    ``value_range``.

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
    norm = np.clip((sim - low) / max(high - low, 1e-8), 0, 1)
    norm = cv2.resize(norm, (big.shape[1], big.shape[0]),
                      interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((norm * 255).astype(np.uint8),
                             cv2.COLORMAP_JET)[..., ::-1]
    blended = (big.astype(np.float32) * (1 - alpha) +
               heat.astype(np.float32) * alpha).astype(np.uint8)
    bar = _colour_bar(blended.shape[0], low, high)
    picture = np.concatenate(
        [blended,
         np.full((blended.shape[0], 6, 3), 255, np.uint8), bar],
        axis=1)
    return draw_title(picture, label_of(prompt))
