"""Mask overlays labelled with the prompts that produced them."""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .similarity_heatmap import _to_numpy

#: Distinct RGB colours, cycled over prompts.
DEFAULT_PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
                   (245, 130, 48), (145, 30, 180), (70, 240, 240),
                   (240, 50, 230), (210, 245, 60), (250, 190, 212))


def prompt_mask_overlay(image: np.ndarray,
                        masks: Union[np.ndarray, torch.Tensor],
                        prompts: Sequence[Union[str, Sequence[str]]],
                        palette: Optional[Sequence[Sequence[int]]] = None,
                        alpha: float = 0.5) -> np.ndarray:
    """Colour each prompt's mask over the image and write the prompt on it.

    The label sits at the mask pixel farthest from the mask border (inside
    the region even for non-convex masks); an empty mask gets no label.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        masks (np.ndarray | Tensor): Bool ``[P, H, W]``, one per prompt,
            e.g. ``pred_prompt_masks`` of ``predict_prompts``.
        prompts (Sequence): The ``P`` prompts.
        palette (Sequence, optional): RGB colour per prompt.
        alpha (float): Opacity of the masks. Default 0.5.

    Returns:
        np.ndarray: ``[H, W, 3]`` uint8 RGB image.
    """
    masks = _to_numpy(masks).astype(bool)
    if masks.ndim != 3 or masks.shape[0] != len(prompts):
        raise ValueError(f'{len(prompts)} prompts for masks of shape '
                         f'{masks.shape}; expected [P, H, W].')
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(f'masks {masks.shape[1:]} and image '
                         f'{image.shape[:2]} differ in size.')
    palette = palette or DEFAULT_PALETTE
    out = image.astype(np.float32).copy()
    for i, mask in enumerate(masks):
        color = np.array(palette[i % len(palette)], dtype=np.float32)
        out[mask] = out[mask] * (1 - alpha) + color * alpha
    out = out.astype(np.uint8)
    for i, (mask, prompt) in enumerate(zip(masks, prompts)):
        if not mask.any():
            continue
        distance = cv2.distanceTransform(
            np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(distance.argmax()), distance.shape)
        text = prompt if isinstance(prompt, str) else prompt[0]
        color = tuple(int(c) for c in palette[i % len(palette)])
        cv2.putText(out, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(out, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    color, 1, cv2.LINE_AA)
    return out


def save_prompt_mask_overlay(image: np.ndarray, masks: Union[np.ndarray,
                                                             torch.Tensor],
                             prompts: Sequence[Union[str, Sequence[str]]],
                             out_file: str, **kwargs) -> str:
    """Write :func:`prompt_mask_overlay` to a PNG.

    Args:
        image, masks, prompts: See :func:`prompt_mask_overlay`.
        out_file (str): Output path (folders created).
        **kwargs: ``palette`` / ``alpha``.

    Returns:
        str: ``out_file``.
    """
    vis = prompt_mask_overlay(image, masks, prompts, **kwargs)
    folder = osp.dirname(out_file)
    if folder:
        os.makedirs(folder, exist_ok=True)
    cv2.imwrite(out_file, cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
    return out_file
