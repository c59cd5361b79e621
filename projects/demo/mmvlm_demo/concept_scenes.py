"""Scenes of the many-concept world: named artwork pasted on aerial photos.

Each scene is a crop of one of the demo's real aerial tiles (the tree-crown
photos of :mod:`.trees`) with several concepts of :mod:`.concepts` pasted
at random sizes and positions, partly overlapping. Boxes and masks come
from the artwork's alpha channel (the visible part of each object). A
split is written as

- ``images/<split>/<id>.jpg``: the scenes;
- ``annotations/<split>.json``: COCO detection annotations whose
  categories are the names asked in that split (ids 1..K in the order of
  the split's vocabulary);
- ``seg_maps/<split>/<id>.png``: 16-bit label maps, value ``i + 1`` for
  the ``i``-th name of :data:`.concept_names.ALL` (0: background).

The training split holds seen concepts only; every test split exists in
both art styles (``test_seen_noto`` ...), built from the same random
layout, so the two styles differ only in the drawing.
"""
import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
from PIL import Image


class PastedObject(NamedTuple):
    """One concept placed in a scene.

    Attributes:
        name (str): The concept's name.
        box (tuple[int, int, int, int]): Visible box ``(x, y, w, h)``.
        area (int): Visible pixels.
    """
    name: str
    box: Tuple[int, int, int, int]
    area: int


class Layout(NamedTuple):
    """Where the objects of a scene go, independent of the art style.

    Attributes:
        background (int): Index of the background tile.
        crop (tuple[int, int, int]): ``(x, y, side)`` of the square crop.
        objects (list[tuple[str, int, int, int]]): ``(name, x, y, size)``
            per object, painting order (later ones in front).
    """
    background: int
    crop: Tuple[int, int, int]
    objects: List[Tuple[str, int, int, int]]


def plan_layout(rng: np.random.Generator, names: Sequence[str],
                backgrounds: Sequence[np.ndarray], scene_size: int,
                object_sizes: Tuple[int, int]) -> Layout:
    """Draw a background crop and a position and size per object.

    Objects may overlap, but a new one covers at most 30 % of an earlier
    one's box (up to 30 tries, then it is dropped).

    Args:
        rng (np.random.Generator): Random state.
        names (Sequence[str]): Concepts to place.
        backgrounds (Sequence[np.ndarray]): ``[H, W, 3]`` photos.
        scene_size (int): Side of the square scene.
        object_sizes (tuple[int, int]): Range of an object's longest side.

    Returns:
        Layout: The plan.
    """
    b = int(rng.integers(len(backgrounds)))
    h, w = backgrounds[b].shape[:2]
    side = int(rng.integers(min(h, w, scene_size), min(h, w) + 1))
    crop = (int(rng.integers(0, w - side + 1)),
            int(rng.integers(0, h - side + 1)), side)
    placed: List[Tuple[str, int, int, int]] = []
    for name in names:
        for _ in range(30):
            size = int(rng.integers(object_sizes[0], object_sizes[1] + 1))
            x = int(rng.integers(0, scene_size - size + 1))
            y = int(rng.integers(0, scene_size - size + 1))
            if all(
                    _overlap(x, y, size, px, py, ps) <= 0.3 * ps * ps
                    for _, px, py, ps in placed):
                placed.append((name, x, y, size))
                break
    return Layout(b, crop, placed)


def _overlap(x: int, y: int, s: int, px: int, py: int, ps: int) -> int:
    """Area shared by two squares."""
    dx = min(x + s, px + ps) - max(x, px)
    dy = min(y + s, py + ps) - max(y, py)
    return max(dx, 0) * max(dy, 0)


def render_scene(
    layout: Layout, art: Dict[str, np.ndarray],
    backgrounds: Sequence[np.ndarray], scene_size: int,
    label_of: Dict[str, int]
) -> Tuple[np.ndarray, np.ndarray, List[PastedObject]]:
    """Paint a layout in one art style.

    Args:
        layout (Layout): From :func:`plan_layout`.
        art (dict[str, np.ndarray]): Concept name -> RGBA artwork.
        backgrounds (Sequence[np.ndarray]): The photos of the layout.
        scene_size (int): Side of the scene.
        label_of (dict[str, int]): Name -> label-map value (>= 1).

    Returns:
        tuple: ``image`` ``[S, S, 3]`` uint8 RGB, ``seg_map`` ``[S, S]``
        uint16 and the visible objects (those with 64 or more visible
        pixels, in painting order).
    """
    x0, y0, side = layout.crop
    crop = backgrounds[layout.background][y0:y0 + side, x0:x0 + side]
    image = np.asarray(
        Image.fromarray(crop).resize((scene_size, scene_size),
                                     Image.BILINEAR)).astype(np.float32)
    owner = np.full((scene_size, scene_size), -1, np.int32)
    for i, (name, x, y, size) in enumerate(layout.objects):
        rgba = art[name]
        scale = size / max(rgba.shape[:2])
        w = max(1, round(rgba.shape[1] * scale))
        h = max(1, round(rgba.shape[0] * scale))
        patch = np.asarray(Image.fromarray(rgba, 'RGBA').resize(
            (w, h), Image.BILINEAR)).astype(np.float32)
        # centre the artwork in its square
        px, py = x + (size - w) // 2, y + (size - h) // 2
        alpha = patch[..., 3:] / 255.0
        region = image[py:py + h, px:px + w]
        region[:] = alpha * patch[..., :3] + (1 - alpha) * region
        owner[py:py + h, px:px + w][alpha[..., 0] > 0.5] = i
    seg_map = np.zeros((scene_size, scene_size), np.uint16)
    objects = []
    for i, (name, *_rest) in enumerate(layout.objects):
        mask = owner == i
        area = int(mask.sum())
        if area < 64:
            continue
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
               int(ys.max() - ys.min() + 1))
        seg_map[mask] = label_of[name]
        objects.append(PastedObject(name, box, area))
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), seg_map, objects


def name_cycle(rng: np.random.Generator, names: Sequence[str],
               count: int) -> List[str]:
    """``count`` names, each name as often as the others (+-1).

    Args:
        rng (np.random.Generator): Random state.
        names (Sequence[str]): The names.
        count (int): How many to draw.

    Returns:
        list[str]: Whole shuffled passes over ``names``, the last one cut.
    """
    out: List[str] = []
    while len(out) < count:
        out += [names[i] for i in rng.permutation(len(names))]
    return out[:count]


def coco_json(vocabulary: Sequence[str],
              scenes: Sequence[Tuple[str, List[PastedObject]]],
              scene_size: int) -> dict:
    """The COCO detection annotations of a split.

    Args:
        vocabulary (Sequence[str]): Names asked in the split; category id
            ``i + 1`` is ``vocabulary[i]``.
        scenes (Sequence[tuple[str, list[PastedObject]]]): File name
            (relative to ``images/``) and objects per scene.
        scene_size (int): Side of every scene.

    Returns:
        dict: ``images``, ``annotations``, ``categories``.
    """
    cat_id = {n: i + 1 for i, n in enumerate(vocabulary)}
    images, annotations = [], []
    for img_id, (file_name, objects) in enumerate(scenes, 1):
        images.append(
            dict(
                id=img_id,
                file_name=file_name,
                width=scene_size,
                height=scene_size))
        for obj in objects:
            if obj.name not in cat_id:
                raise ValueError(f'{obj.name!r} is in scene {file_name} but '
                                 'not in the vocabulary of its split.')
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=cat_id[obj.name],
                    bbox=list(obj.box),
                    area=obj.area,
                    iscrowd=0))
    return dict(
        images=images,
        annotations=annotations,
        categories=[dict(id=i, name=n) for n, i in cat_id.items()])


def write_split(out_dir: str, split: str, layouts: Sequence[Layout],
                art: Dict[str, np.ndarray], backgrounds: Sequence[np.ndarray],
                scene_size: int, vocabulary: Sequence[str],
                label_of: Dict[str, int]) -> int:
    """Render and write one split (images, label maps, COCO json).

    Args:
        out_dir (str): The data set folder.
        split (str): Split name, e.g. ``'test_held_out_noto'``.
        layouts (Sequence[Layout]): One per scene.
        art (dict[str, np.ndarray]): Artwork of the split's style.
        backgrounds (Sequence[np.ndarray]): The photos.
        scene_size (int): Side of a scene.
        vocabulary (Sequence[str]): Names asked in the split.
        label_of (dict[str, int]): Name -> label-map value.

    Returns:
        int: Number of objects written.
    """
    os.makedirs(osp.join(out_dir, 'images', split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'seg_maps', split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    scenes = []
    for i, layout in enumerate(layouts):
        image, seg_map, objects = render_scene(layout, art, backgrounds,
                                               scene_size, label_of)
        stem = f'{i:05d}'
        Image.fromarray(image).save(
            osp.join(out_dir, 'images', split, stem + '.jpg'), quality=92)
        Image.fromarray(seg_map).save(
            osp.join(out_dir, 'seg_maps', split, stem + '.png'))
        scenes.append((f'{split}/{stem}.jpg', objects))
    with open(osp.join(out_dir, 'annotations', split + '.json'), 'w') as f:
        json.dump(coco_json(vocabulary, scenes, scene_size), f)
    return sum(len(objects) for _, objects in scenes)
