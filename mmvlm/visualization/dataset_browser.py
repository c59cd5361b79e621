"""Render samples of a multimodal pipeline (image + prompts + labels) to PNG.

Each PNG shows the augmented image with its ground truth (boxes and masks
labelled with the text they index into, label maps blended in colour) and,
on the right, the sample's vocabulary: index, text, dataset class id, and
whether the entry is positive (used by the ground truth), a negative or
padding. Works with mmdet and mmseg configs that import mmvlm. The command
line is ``tools/analysis_tools/browse_multimodal_dataset.py``.
"""
import math
import os
import os.path as osp
from typing import List, Sequence

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope
from mmengine.utils import import_modules_from_strings
from mmengine.visualization import Visualizer

from .label_text import font_properties

PANEL_WIDTH = 420
#: With ``--scale 0`` (auto), small images are enlarged to about this size.
AUTO_SCALE_SIZE = 256
LINE_HEIGHT = 18
FONT_SIZE = 11


def palette(num_colors: int) -> np.ndarray:
    """Distinct, reproducible RGB colours.

    Args:
        num_colors (int): Number of colours.

    Returns:
        np.ndarray: ``[num_colors, 3]`` uint8 colours.
    """
    hues = (np.arange(max(num_colors, 1)) * 0.618034) % 1.0
    rgb = []
    for hue in hues:
        sector = int(hue * 6)
        frac = hue * 6 - sector
        q, t = 1 - frac, frac
        r, g, b = [(1, t, 0), (q, 1, 0), (0, 1, t), (0, q, 1), (t, 0, 1),
                   (1, 0, q)][sector % 6]
        rgb.append((r * 205 + 50, g * 205 + 50, b * 205 + 50))
    return np.asarray(rgb, dtype=np.uint8)[:num_colors]


def entry_to_str(entry) -> str:
    """Show one vocabulary entry (a string or a tuple of prompts)."""
    if isinstance(entry, (list, tuple)):
        return ' | '.join(str(e) for e in entry)
    return str(entry)


def describe_vocabulary(metainfo: dict,
                        positives: Sequence[int]) -> List[str]:
    """One line per vocabulary entry of a sample.

    Args:
        metainfo (dict): The data sample's metainfo.
        positives (Sequence[int]): Entries used by the ground truth.

    Returns:
        list[str]: Lines like ``'3 + dog (id 17)'``; ``+`` marks a
        positive, ``-`` a negative, ``.`` padding.
    """
    texts = list(metainfo.get('text') or ())
    mask = list(metainfo.get('text_mask') or [True] * len(texts))
    ids = list(metainfo.get('text_label_ids') or range(len(texts)))
    positives = set(int(p) for p in positives)
    lines = []
    for i, entry in enumerate(texts):
        if not mask[i]:
            lines.append(f'{i:3d} . <pad>')
            continue
        mark = '+' if i in positives else '-'
        label_id = f' (id {ids[i]})' if ids[i] >= 0 else ''
        lines.append(f'{i:3d} {mark} {entry_to_str(entry)[:60]}{label_id}')
    return lines


def auto_scale(height: int, width: int) -> int:
    """Integer zoom that brings a small image to ``AUTO_SCALE_SIZE``.

    Args:
        height (int): Image height.
        width (int): Image width.

    Returns:
        int: The zoom factor (1 for images that are large enough).
    """
    return max(1, math.ceil(AUTO_SCALE_SIZE / max(height, width, 1)))


def zoom(array: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour zoom of the first two axes."""
    if scale == 1:
        return array
    return np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def render_sample(inputs, data_sample, scale: int = 1) -> np.ndarray:
    """Draw one packed sample and its vocabulary.

    Args:
        inputs (torch.Tensor): ``[C, H, W]`` image as packed (BGR, uint8).
        data_sample (DetDataSample | SegDataSample): The packed sample.
        scale (int): Integer zoom of the image. Defaults to 1.

    Returns:
        np.ndarray: ``[H', scale * W + PANEL_WIDTH, 3]`` RGB uint8 picture,
        ``H' = max(scale * H, height of the vocabulary list)``.
    """
    if scale < 1:
        raise ValueError(f'scale must be >= 1, got {scale}.')
    image = inputs.permute(1, 2, 0).cpu().numpy().astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = np.ascontiguousarray(zoom(image[..., ::-1], scale))  # RGB
    metainfo = data_sample.metainfo
    texts = list(metainfo.get('text') or ())
    colors = palette(max(len(texts), 1))
    positives: List[int] = []

    if 'gt_sem_seg' in data_sample:
        pixels = data_sample.gt_sem_seg  # mmdet: .sem_seg, mmseg: .data
        seg = (pixels.sem_seg if 'sem_seg' in pixels else pixels.data)
        seg = zoom(seg[0].cpu().numpy(), scale)
        values = [int(v) for v in np.unique(seg) if 0 <= v < len(texts)]
        positives += values
        overlay = image.copy()
        for value in values:
            overlay[seg == value] = colors[value]
        image = (0.5 * image + 0.5 * overlay).astype(np.uint8)

    visualizer = Visualizer(image=image)
    instances = data_sample.get('gt_instances')
    if instances is not None and 'labels' in instances:
        labels = instances.labels.cpu().numpy().astype(int)
        positives += labels.tolist()
        if 'masks' in instances and len(labels):
            masks = instances.masks
            masks = masks.to_ndarray() if hasattr(masks,
                                                  'to_ndarray') else masks
            masks = np.stack([zoom(m, scale) for m in np.asarray(masks)])
            visualizer.draw_binary_masks(
                masks.astype(bool),
                colors=[tuple(int(c) for c in colors[k]) for k in labels],
                alphas=0.4)
        if 'bboxes' in instances and len(labels):
            boxes = instances.bboxes
            boxes = getattr(boxes, 'tensor', boxes) * scale
            box_colors = [tuple(int(c) for c in colors[k]) for k in labels]
            visualizer.draw_bboxes(boxes, edge_colors=box_colors)
            names = [
                f'{k}: {entry_to_str(texts[k])[:30]}'
                if 0 <= k < len(texts) else f'{k}: ?' for k in labels
            ]
            visualizer.draw_texts(
                names,
                boxes[:, :2].cpu().numpy(),
                colors=box_colors,
                font_sizes=FONT_SIZE,
                font_properties=font_properties(names),
                bboxes=[{
                    'facecolor': 'black',
                    'alpha': 0.6,
                    'pad': 0.5,
                    'edgecolor': 'none'
                }] * len(names))
    drawn = visualizer.get_image()

    lines = describe_vocabulary(metainfo, positives) or ['(no text)']
    caption = metainfo.get('caption')
    if caption:
        lines = [f'caption: {caption[:60]}'] + lines
    height = max(drawn.shape[0], LINE_HEIGHT * (len(lines) + 1))
    panel = np.full((height, PANEL_WIDTH, 3), 255, dtype=np.uint8)
    panel_vis = Visualizer(image=panel)
    positions = np.array([[4, 2 + i * LINE_HEIGHT]
                          for i in range(len(lines))])
    line_colors = []
    for line in lines:
        parts = line.split()
        if len(parts) > 1 and parts[1] == '+':
            line_colors.append(tuple(int(c) for c in colors[int(parts[0])]))
        elif len(parts) > 1 and parts[1] == '.':
            line_colors.append((160, 160, 160))
        else:
            line_colors.append((0, 0, 0))
    panel_vis.draw_texts(
        lines,
        positions,
        colors=line_colors,
        font_sizes=FONT_SIZE,
        font_properties=font_properties(lines))
    panel = panel_vis.get_image()
    canvas = np.full((height, drawn.shape[1] + PANEL_WIDTH, 3),
                     255,
                     dtype=np.uint8)
    canvas[:drawn.shape[0], :drawn.shape[1]] = drawn
    canvas[:, drawn.shape[1]:] = panel
    return canvas


def build_dataset(cfg: Config, split: str):
    """Build the dataset of ``<split>_dataloader`` in the config's scope.

    Args:
        cfg (Config): The config.
        split (str): ``'train'``, ``'val'`` or ``'test'``.

    Returns:
        The dataset.
    """
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg['custom_imports'])
    # mmvlm's transforms are registered: importing this module imported
    # the mmvlm package first
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    key = f'{split}_dataloader'
    if key not in cfg or cfg[key] is None:
        raise KeyError(f'The config has no {key}; choose another --split.')
    return DATASETS.build(cfg[key]['dataset'])


def browse_dataset(cfg: Config,
                   output_dir: str,
                   split: str = 'train',
                   num_samples: int = 10,
                   seed: int = 0,
                   scale: int = 0) -> List[str]:
    """Render the first samples of a dataloader's dataset to PNG files.

    Args:
        cfg (Config): mmdet / mmseg config.
        output_dir (str): Folder for the PNG files (created).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        num_samples (int): Number of samples to render.
        seed (int): numpy seed of the random pipeline steps.
        scale (int): Integer zoom of the image; 0 enlarges images smaller
            than ``AUTO_SCALE_SIZE`` px to about that size.

    Returns:
        list[str]: Paths of the written PNG files.
    """
    np.random.seed(seed)
    dataset = build_dataset(cfg, split)
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for index in range(min(num_samples, len(dataset))):
        item = dataset[index]
        height, width = item['inputs'].shape[-2:]
        zoom_factor = scale or auto_scale(height, width)
        picture = render_sample(item['inputs'], item['data_samples'],
                                zoom_factor)
        name = osp.splitext(
            osp.basename(item['data_samples'].metainfo.get(
                'img_path', f'sample_{index}')))[0]
        path = osp.join(output_dir, f'{index:04d}_{name}.png')
        mmcv.imwrite(picture[..., ::-1], path)
        written.append(path)
        print(f'wrote {path}')
    return written
