"""Single-concept crops of the many-concept world, for image classification.

Each image is one concept's artwork (:mod:`.concepts`: EmojiOne or Noto
Color Emoji) pasted at a random size and position on a crop of the demo's
aerial photos or on a plain random colour, written as an mmpretrain
``CustomDataset`` (``images/``, one ``<split>.txt`` of ``<file> <label>``
lines per split). Labels index :data:`CLASSES` (seen names first, so a
closed-set classifier of the seen names reads labels 0-573); the seen /
validation-held-out / test-held-out split is the one fixed in
:mod:`.concept_names`, so no held-out concept is in a training image.

Splits (:data:`SPLITS`): ``train`` (seen names, EmojiOne), ``val_seen``
(seen names, other layouts, for choices on the seen side),
``test_seen`` / ``test_seen_noto``, ``val_held_out`` /
``val_held_out_noto`` (for choices on held-out names) and
``test_held_out`` / ``test_held_out_noto`` (reported only).
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from . import concept_names
from .concept_data import fetch_packages, load_backgrounds
from .concepts import read_concepts, render_all_art
from .fetching import stamp_matches, write_stamp

#: Label order: seen, validation-held-out, test-held-out names.
CLASSES = (concept_names.SEEN + concept_names.VAL_HELD_OUT +
           concept_names.TEST_HELD_OUT)
#: Side of every crop (pixels).
CROP_SIZE = 64
#: Range of the artwork's longest side inside a crop (pixels).
ART_SIZES = (34, 60)
#: Share of crops on a plain colour instead of an aerial photo.
PLAIN_SHARE = 0.3
#: split -> (names, art style, crops per name, seed offset).
SPLITS: Dict[str, Tuple[str, str, int, int]] = {
    'train': ('seen', 'emojione', 8, 0),
    'val_seen': ('seen', 'emojione', 1, 1),
    'test_seen': ('seen', 'emojione', 2, 2),
    'test_seen_noto': ('seen', 'noto', 1, 3),
    'val_held_out': ('val_held_out', 'emojione', 4, 4),
    'val_held_out_noto': ('val_held_out', 'noto', 2, 5),
    'test_held_out': ('test_held_out', 'emojione', 4, 6),
    'test_held_out_noto': ('test_held_out', 'noto', 2, 7),
}
OPTIONS = dict(version=2,
               crop_size=CROP_SIZE,
               art_sizes=list(ART_SIZES),
               plain_share=PLAIN_SHARE,
               splits={k: list(v)
                       for k, v in SPLITS.items()})


def split_names(part: str) -> Sequence[str]:
    """The names of a part of the fixed split.

    Args:
        part (str): ``'seen'``, ``'val_held_out'`` or ``'test_held_out'``.

    Returns:
        Sequence[str]: The sorted names.
    """
    parts = dict(seen=concept_names.SEEN,
                 val_held_out=concept_names.VAL_HELD_OUT,
                 test_held_out=concept_names.TEST_HELD_OUT)
    if part not in parts:
        raise ValueError(f'Unknown name part {part!r}; choose from '
                         f'{sorted(parts)}.')
    return parts[part]


def compose_crop(rng: np.random.Generator, art: np.ndarray,
                 backgrounds: Sequence[np.ndarray]) -> np.ndarray:
    """One crop: ``art`` pasted on a background.

    Args:
        rng (np.random.Generator): Random state.
        art (np.ndarray): ``[h, w, 4]`` uint8 RGBA artwork.
        backgrounds (Sequence[np.ndarray]): ``[H, W, 3]`` uint8 photos.

    Returns:
        np.ndarray: ``[CROP_SIZE, CROP_SIZE, 3]`` uint8 RGB.
    """
    size = CROP_SIZE
    if rng.random() < PLAIN_SHARE or not backgrounds:
        canvas = np.empty((size, size, 3), np.float32)
        canvas[:] = rng.integers(0, 256, 3)
    else:
        photo = backgrounds[int(rng.integers(len(backgrounds)))]
        h, w = photo.shape[:2]
        side = int(rng.integers(min(h, w) // 8, min(h, w) // 2 + 1))
        x0 = int(rng.integers(0, w - side + 1))
        y0 = int(rng.integers(0, h - side + 1))
        patch = Image.fromarray(photo[y0:y0 + side, x0:x0 + side])
        canvas = np.asarray(patch.resize((size, size), Image.BILINEAR),
                            np.float32).copy()
    longest = int(rng.integers(ART_SIZES[0], ART_SIZES[1] + 1))
    h, w = art.shape[:2]
    scale = longest / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    pasted = np.asarray(
        Image.fromarray(art, 'RGBA').resize((new_w, new_h), Image.LANCZOS),
        np.float32)
    x = int(rng.integers(0, size - new_w + 1))
    y = int(rng.integers(0, size - new_h + 1))
    alpha = pasted[..., 3:] / 255.0
    region = canvas[y:y + new_h, x:x + new_w]
    canvas[y:y + new_h, x:x + new_w] = (alpha * pasted[..., :3] +
                                        (1 - alpha) * region)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def write_crop_splits(out_dir: str, art: Dict[str, Dict[str, np.ndarray]],
                      backgrounds: Sequence[np.ndarray],
                      seed: int = 0) -> Dict[str, int]:
    """Write the images and the ``<split>.txt`` files of :data:`SPLITS`.

    Args:
        out_dir (str): Output folder.
        art (dict): style -> name -> RGBA artwork (:func:`render_all_art`).
        backgrounds (Sequence[np.ndarray]): Aerial photos.
        seed (int): Base seed; each split adds its own offset.

    Returns:
        dict[str, int]: Images per split.
    """
    label = {name: i for i, name in enumerate(CLASSES)}
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    counts = {}
    for split, (part, style, per_name, offset) in SPLITS.items():
        rng = np.random.default_rng(seed * 100 + offset)
        lines: List[str] = []
        for name in split_names(part):
            if name not in art[style]:
                raise KeyError(f'No {style} artwork for {name!r}: rebuild '
                               'the many-concept art (concept_data).')
            for n in range(per_name):
                crop = compose_crop(rng, art[style][name], backgrounds)
                file = f'{split}_{label[name]:04d}_{n}.png'
                Image.fromarray(crop).save(osp.join(out_dir, 'images', file))
                lines.append(f'{file} {label[name]}')
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[split] = len(lines)
    return counts


def prepare_concept_crops(data_root: str,
                          cache_dir: str,
                          force: bool = False,
                          seed: int = 0) -> str:
    """Build the crops once (a stamp records the options).

    Args:
        data_root (str): The demo data root (``trees/images`` holds the
            aerial photos).
        cache_dir (str): Download cache of the two Debian packages.
        force (bool): Rebuild even when up to date.
        seed (int): Layout seed.

    Returns:
        str: ``<data_root>/concept_crops``.
    """
    out_dir = osp.join(data_root, 'concept_crops')
    options = dict(OPTIONS, seed=seed)
    if not force and stamp_matches(out_dir, options):
        return out_dir
    packages = fetch_packages(cache_dir)
    concepts = read_concepts(
        osp.join(packages['gemojione'], 'config', 'index.json'))
    known = {c.name for c in concepts}
    missing = sorted(set(concept_names.ALL) - known)
    if missing:
        raise RuntimeError(
            f'The emoji index lacks {len(missing)} fixed names (e.g. '
            f'{missing[:3]}): the package changed; see concept_data.')
    art = render_all_art(
        [c for c in concepts if c.name in set(concept_names.ALL)],
        packages['gemojione'], packages['noto'])
    backgrounds = load_backgrounds(data_root)
    if osp.isdir(out_dir):
        shutil.rmtree(out_dir)
    counts = write_crop_splits(out_dir, art, backgrounds, seed)
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(dict(classes=list(CLASSES), counts=counts), f,
                  indent=1)
    write_stamp(out_dir, options)
    return out_dir


def read_split(out_dir: str, split: str) -> List[Tuple[str, int]]:
    """``(file, label)`` rows of a written split.

    Args:
        out_dir (str): The crops folder.
        split (str): A key of :data:`SPLITS`.

    Returns:
        list[tuple[str, int]]: The rows.
    """
    path = osp.join(out_dir, f'{split}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} is missing: build the crops with '
            'prepare_concept_crops (run_image_level_demo.sh does).')
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                file, label = line.split()
                rows.append((file, int(label)))
    return rows
