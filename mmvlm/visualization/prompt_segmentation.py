"""Regions labelled with the prompts that named them, drawn to be read."""
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .label_text import (MIN_DRAW_SIZE, draw_legend, label_of, place_labels,
                         upscale, upscale_factor)
from .prompt_heatmap import _to_numpy

#: Distinct RGB colours, cycled over prompts.
DEFAULT_PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
                   (245, 130, 48), (145, 30, 180), (70, 240, 240),
                   (240, 50, 230), (210, 245, 60), (250, 190, 212))


#: More on-image labels than this and a legend is added.
MAX_IMAGE_LABELS = 8


def _check_masks(masks, prompts, image) -> np.ndarray:
    masks = _to_numpy(masks).astype(bool)
    if masks.ndim != 3 or masks.shape[0] != len(prompts):
        raise ValueError(f'{len(prompts)} prompts for masks of shape '
                         f'{masks.shape}; expected [P, H, W].')
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(f'masks {masks.shape[1:]} and image '
                         f'{image.shape[:2]} differ in size.')
    return masks


def draw_prompt_segmentation(image: np.ndarray,
                             masks: Union[np.ndarray, torch.Tensor],
                             prompts: Sequence[Union[str, Sequence[str]]],
                             palette: Optional[Sequence[Sequence[int]]] = None,
                             alpha: float = 0.5,
                             min_size: int = MIN_DRAW_SIZE,
                             legend: Union[bool, str] = 'auto') -> np.ndarray:
    """A readable picture of the regions each prompt names.

    Small images are enlarged (integer zoom, so region borders stay exact)
    to ``min_size``; each region is coloured and outlined, and labelled
    with its prompt at its innermost pixel when the label fits without
    covering another label. Labels that do not fit, or more than
    ``MAX_IMAGE_LABELS`` regions, send the prompts to a legend on the right
    (colour, prompt, share of the image). Non-Latin prompts are drawn with
    a font that has their glyphs.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        masks (np.ndarray | Tensor): Bool ``[P, H, W]``, one per prompt.
        prompts (Sequence): The ``P`` prompts (first synonym shown).
        palette (Sequence, optional): RGB colour per prompt.
        alpha (float): Opacity of the regions. Default 0.5.
        min_size (int): Longer side small images are enlarged to; 0 keeps
            the size. Default 640.
        legend (bool | str): ``'auto'`` (when crowded), True (always) or
            False (never; labels that do not fit are then left out).

    Returns:
        np.ndarray: uint8 RGB picture ``[k * H, k * W (+ legend), 3]``.
    """
    masks = _check_masks(masks, prompts, image)
    palette = palette or DEFAULT_PALETTE
    colors = [
        tuple(int(c) for c in palette[i % len(palette)])
        for i in range(len(prompts))
    ]
    factor = upscale_factor(*image.shape[:2], min_size)
    out = upscale(image, factor).astype(np.float32)
    masks = np.stack([upscale(m, factor)
                      for m in masks]) if len(masks) else np.zeros(
                          (0, ) + out.shape[:2], bool)
    for mask, color in zip(masks, colors):
        out[mask] = out[mask] * (1 - alpha) + np.float32(color) * alpha
    out = out.astype(np.uint8)
    present = [i for i, m in enumerate(masks) if m.any()]
    labels = []
    for i in present:
        mask = masks[i].astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colors[i], max(1, factor // 3))
        distance = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)[1:-1,
                                                                          1:-1]
        y, x = np.unravel_index(int(distance.argmax()), distance.shape)
        labels.append((label_of(prompts[i]), (x, y, x, y), colors[i]))
    # larger regions first: they keep their on-image label
    order = sorted(range(len(labels)),
                   key=lambda k: -int(masks[present[k]].sum()))
    out, unplaced = place_labels(out, [labels[k] for k in order])
    crowded = bool(unplaced) or len(labels) > MAX_IMAGE_LABELS
    if legend is True or (legend == 'auto' and crowded):
        total = float(masks.shape[1] * masks.shape[2]) or 1.0
        entries = [(f'{label_of(prompts[i])} '
                    f'({100 * masks[i].sum() / total:.1f}%)', colors[i])
                   for i in present]
        out = draw_legend(out, entries)
    return out
