"""Boxes labelled with the prompts that found them, drawn to be read."""
from typing import Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageDraw

from .label_text import (MIN_DRAW_SIZE, draw_legend, draw_title, label_of,
                         place_labels, upscale, upscale_factor)
from .prompt_segmentation import DEFAULT_PALETTE
from .prompt_heatmap import _to_numpy

#: More boxes than this are never drawn (the highest scores are kept).
MAX_DRAWN_BOXES = 30


def draw_prompt_detections(image: np.ndarray,
                           bboxes: Union[np.ndarray, torch.Tensor],
                           scores: Union[np.ndarray, torch.Tensor],
                           labels: Union[np.ndarray, torch.Tensor],
                           prompts: Sequence[Union[str, Sequence[str]]],
                           score_thr: float = 0.3,
                           max_boxes: int = MAX_DRAWN_BOXES,
                           palette: Optional[Sequence[Sequence[int]]] = None,
                           min_size: int = MIN_DRAW_SIZE,
                           legend: Union[bool, str] = 'auto') -> np.ndarray:
    """Draw the boxes scoring at least ``score_thr``, labelled
    ``"<prompt> <score>"``, so that the picture stays readable.

    Only boxes with ``score >= score_thr`` are drawn, at most ``max_boxes``
    of them (highest scores first, which also get their labels first).
    Small images are enlarged to ``min_size``. Each prompt has one colour;
    a label goes next to its box where it covers no other label, and when
    some do not fit (or ``legend=True``) a legend on the right lists each
    prompt with its colour, number of boxes drawn and best score. A title
    strip states the threshold and how many boxes were left out, so a
    sparse picture is never mistaken for a model that found nothing.

    Args:
        image (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        bboxes (np.ndarray | Tensor): ``[N, 4]`` boxes ``(x1, y1, x2, y2)``
            in pixels of ``image``.
        scores (np.ndarray | Tensor): ``[N]`` scores.
        labels (np.ndarray | Tensor): ``[N]`` indices into ``prompts``.
        prompts (Sequence): The prompts (first synonym of a tuple shown).
        score_thr (float): Boxes below this score are not drawn.
            Default 0.3.
        max_boxes (int): At most this many boxes are drawn. Default 30.
        palette (Sequence, optional): RGB colour per prompt.
        min_size (int): Longer side small images are enlarged to; 0 keeps
            the size. Default 640.
        legend (bool | str): ``'auto'`` (when labels do not fit), True
            (always) or False (never).

    Returns:
        np.ndarray: uint8 RGB picture ``[title + k * H, k * W (+ legend),
        3]``, ``k`` the zoom.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be [H, W, 3] RGB, got {image.shape}.')
    bboxes = _to_numpy(bboxes).reshape(-1, 4).astype(np.float64)
    scores = _to_numpy(scores).reshape(-1).astype(np.float64)
    labels = _to_numpy(labels).reshape(-1).astype(np.int64)
    if not len(bboxes) == len(scores) == len(labels):
        raise ValueError(f'{len(bboxes)} boxes, {len(scores)} scores and '
                         f'{len(labels)} labels: give one of each per box.')
    bad = labels[(labels < 0) | (labels >= len(prompts))]
    if len(bad):
        raise ValueError(
            f'Labels {sorted(set(bad.tolist()))} do not index the '
            f'{len(prompts)} prompts; pass the class names returned with '
            'the prediction (mmvlm.apis.detect).')
    palette = palette or DEFAULT_PALETTE
    colors = [
        tuple(int(c) for c in palette[i % len(palette)])
        for i in range(len(prompts))
    ]
    above = np.flatnonzero(scores >= score_thr)
    order = above[np.argsort(-scores[above], kind='stable')]
    drawn = order[:max_boxes]

    factor = upscale_factor(*image.shape[:2], min_size)
    canvas = Image.fromarray(np.ascontiguousarray(upscale(image, factor)))
    draw = ImageDraw.Draw(canvas)
    width = max(2, factor // 2 + 1)
    for k in drawn[::-1]:  # the best box last, on top
        box = tuple(float(v) * factor for v in bboxes[k])
        draw.rectangle(box, outline=colors[labels[k]], width=width)
    texts = [(f'{label_of(prompts[labels[k]])} {scores[k]:.2f}',
              tuple(float(v) * factor for v in bboxes[k]), colors[labels[k]])
             for k in drawn]
    picture, unplaced = place_labels(np.asarray(canvas), texts)
    if legend is True or (legend == 'auto' and unplaced):
        entries = []
        for p in sorted(set(labels[drawn].tolist())):
            mine = drawn[labels[drawn] == p]
            entries.append((f'{label_of(prompts[p])}: {len(mine)} '
                            f'(best {scores[mine].max():.2f})', colors[p]))
        picture = draw_legend(picture, entries)
    left_out = len(above) - len(drawn)
    title = f'{len(drawn)} boxes with score >= {score_thr:g}'
    if left_out:
        title += f' ({left_out} more not drawn: max_boxes={max_boxes})'
    title += f'; {len(scores) - len(above)} below'
    return draw_title(picture, title)
