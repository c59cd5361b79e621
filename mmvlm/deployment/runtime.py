"""Run mmvlm ONNX exports without PyTorch: pre- and post-processing in numpy.

This file imports only ``numpy``, ``hashlib`` and the standard library at
module level (``onnxruntime``, ``tokenizers`` and Pillow are imported by the
functions that need them). The export tool
(``tools/deployment/export_onnx.py``) copies it as ``mmvlm_runtime.py``
into every export folder, next to the ``.onnx`` files and ``meta.json``,
so a deployed process loads it from there without importing the ``mmvlm``
package (which imports torch). Load it by its path, after checking it
against the SHA-256 that ``meta.json`` records, and never put the export
folder on ``sys.path`` (a ``numpy.py`` placed there would be imported
instead of numpy); ``tools/deployment/run_onnx.py`` shows how::

    rt = load_verified_runtime('work_dirs/export')   # see run_onnx.py
    detector = rt.load_model('work_dirs/export')
    result = detector(rt.read_image('tile.png'))

Before a graph runs, the runtime checks the folder against ``meta.json``
(:func:`load_meta`, :func:`verify_file`, :func:`check_graph`): the format
version, the SHA-256 and size of every file it opens, the graph's input /
output signature, and meta against the graph (feature levels, classes vs
the classifier's channels); every run checks the strides against the
feature-map sizes (:func:`check_feature_sizes`). A mismatch is an
:class:`ExportError` naming the file and the field.

The post-processing reproduces mmdet's and mmseg's test-time steps:
prior generation, box decoding, score filtering and top-k, class-aware NMS
(mmcv's CPU algorithm), rescaling to the original image; and for
segmentation, removing padding, bilinear resizing to the original size and
the arg-max. ``docs/deployment.md`` states what is supported and the
measured tolerances.
"""
import hashlib
import json
import math
import os
import os.path as osp
import sys
import time
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

#: Name of the metadata file in an export folder.
META_FILE = 'meta.json'
#: Version of the ``meta.json`` layout this module reads (2: the SHA-256
#: and size of every file, and the input / output signature of each graph).
FORMAT_VERSION = 2
#: Keys every ``meta.json`` has, and those of a detector / segmentor.
REQUIRED_KEYS = ('format_version', 'task', 'mode', 'files', 'sha256')
MODEL_KEYS = ('onnx', 'preprocess', 'head', 'signature')
#: Most prompts (entries x synonyms x templates) :class:`TextEncoder`
#: encodes in one call; the environment variable raises it. The same limit
#: as ``mmvlm.structures.prompt_checks.MAX_PROMPTS``.
MAX_PROMPTS = 200_000
MAX_PROMPTS_ENV = 'MMVLM_MAX_PROMPTS'
#: Prompts per onnxruntime call of :class:`TextEncoder`.
TEXT_BATCH = 256
#: Seconds after which :class:`TextEncoder` prints its progress.
PROGRESS_AFTER_S = 5.0

VocabEntry = Union[str, Sequence[str]]
#: Unicode categories of characters that show nothing on their own.
_INVISIBLE = frozenset(
    ('Cc', 'Cf', 'Zs', 'Zl', 'Zp', 'Mn', 'Me', 'Cn', 'Co', 'Cs'))


class ExportError(ValueError):
    """An export folder that does not match its ``meta.json`` (a changed
    or damaged file, a wrong field, another graph): the message names the
    file and the field."""


# ---------------------------------------------------------------- meta
def load_meta(folder: str) -> dict:
    """Read and check ``meta.json`` of an export folder.

    Args:
        folder (str): The export folder.

    Returns:
        dict: The metadata written by the export tool.

    Raises:
        FileNotFoundError: No ``meta.json``.
        ExportError: Not a JSON object, another format version, or a
            missing / wrongly typed field (the message names it).
    """
    path = osp.join(folder, META_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: give the folder written by '
            'tools/deployment/export_onnx.py.')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except json.JSONDecodeError as e:
        raise ExportError(
            f'{path} is not valid JSON ({e.msg} at line {e.lineno}, column '
            f'{e.colno}): the file is damaged or was edited by hand; export '
            'again with tools/deployment/export_onnx.py.') from None
    except UnicodeDecodeError as e:
        raise ExportError(f'{path} is not UTF-8 text ({e}): the file is '
                          'damaged; export again.') from None
    if not isinstance(meta, dict):
        raise ExportError(f'{path} holds a JSON {type(meta).__name__}, not '
                          'the object the export tool writes; export again.')
    if meta.get('format_version') != FORMAT_VERSION:
        raise ExportError(
            f'{path}: field format_version is '
            f'{meta.get("format_version")!r}; this runtime reads version '
            f'{FORMAT_VERSION}. Export again with the installed mmvlm, or '
            'use the mmvlm_runtime.py of that folder.')
    keys = REQUIRED_KEYS + (MODEL_KEYS if meta.get('task') in (
        'detection', 'segmentation') else ())
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ExportError(f'{path} lacks the field(s) {missing}; export '
                          'again with tools/deployment/export_onnx.py.')
    for key in ('files', 'sha256') + (('signature', 'head', 'preprocess')
                                       if 'onnx' in meta else ()):
        if not isinstance(meta.get(key), dict):
            raise ExportError(f'{path}: field {key} must be a JSON object, '
                              f'got {meta.get(key)!r}; export again.')
    return meta


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def verify_file(folder: str, meta: dict, name: str) -> str:
    """Check a file of the export against ``meta.json`` before opening it.

    Args:
        folder (str): The export folder.
        meta (dict): Its ``meta.json``.
        name (str): The file name inside the folder.

    Returns:
        str: The file's path.

    Raises:
        ExportError: The file is not recorded, is missing, or its size or
            SHA-256 differs from ``files[name]`` / ``sha256[name]``.
    """
    path = osp.join(folder, name)
    meta_path = osp.join(folder, META_FILE)
    want = meta['sha256'].get(name)
    if not isinstance(want, str):
        raise ExportError(
            f'{meta_path}: field sha256[{name!r}] is missing, so {path} '
            'cannot be verified; export again.')
    if not osp.isfile(path):
        raise ExportError(f'{path} does not exist, but {meta_path} lists it '
                          f'(field sha256[{name!r}]): copy the whole export '
                          'folder.')
    size = osp.getsize(path)
    if meta['files'].get(name) not in (None, size):
        raise ExportError(
            f'{path} has {size} bytes but {meta_path} field files[{name!r}] '
            f'says {meta["files"][name]}: the file was changed or truncated '
            'after export; copy it again or export again.')
    got = sha256_of(path)
    if got != want:
        raise ExportError(
            f'{path} has SHA-256 {got}, but {meta_path} field '
            f'sha256[{name!r}] is {want}: the file was changed or damaged '
            'after export; it is not used. Copy it again or export again.')
    return path


def graph_signature(session) -> dict:
    """The inputs and outputs of an onnxruntime session as JSON values.

    Returns:
        dict: ``inputs`` and ``outputs``, each a list of ``name``,
        ``type`` (e.g. ``'tensor(float)'``) and ``shape`` (an int per
        fixed axis, the axis name or None per dynamic one).
    """

    def describe(args) -> List[dict]:
        return [
            dict(name=a.name,
                 type=a.type,
                 shape=[d if isinstance(d, int) else
                        (str(d) if d is not None else None)
                        for d in (a.shape or [])]) for a in args
        ]

    return dict(inputs=describe(session.get_inputs()),
                outputs=describe(session.get_outputs()))


def check_signature(folder: str, meta: dict, name: str, session) -> dict:
    """Raise unless the graph's inputs / outputs are those ``meta.json``
    records for it (names, element types, ranks and fixed sizes).

    Args:
        folder (str): The export folder.
        meta (dict): Its ``meta.json``.
        name (str): The ``.onnx`` file name.
        session: Its onnxruntime session.

    Returns:
        dict: The graph's signature (:func:`graph_signature`).
    """
    path = osp.join(folder, name)
    field = f'signature[{name!r}]'
    want = meta['signature'].get(name)
    got = graph_signature(session)
    if not isinstance(want, dict):
        raise ExportError(f'{osp.join(folder, META_FILE)}: field {field} is '
                          'missing; export again.')
    for kind in ('inputs', 'outputs'):
        mine = {a['name']: a for a in got[kind]}
        theirs = {a.get('name'): a for a in want.get(kind) or []}
        if set(mine) != set(theirs):
            raise ExportError(
                f'{path} has {kind} {sorted(mine)}, but '
                f'{osp.join(folder, META_FILE)} field {field}.{kind} says '
                f'{sorted(theirs)}: the graph and meta.json come from '
                'different exports; export again.')
        for arg_name, arg in mine.items():
            other = theirs[arg_name]
            fixed = [d if isinstance(d, int) else None for d in arg['shape']]
            recorded = [
                d if isinstance(d, int) else None
                for d in other.get('shape') or []
            ]
            if arg['type'] != other.get('type') or fixed != recorded:
                raise ExportError(
                    f'{path}: {kind[:-1]} {arg_name!r} is {arg["type"]} '
                    f'{arg["shape"]}, but {osp.join(folder, META_FILE)} '
                    f'field {field}.{kind} records {other.get("type")} '
                    f'{other.get("shape")}; export again.')
    return got


def _channels(signature: dict, output: str) -> Optional[int]:
    """The fixed channel count (axis 1) of an output, None if dynamic."""
    for arg in signature['outputs']:
        if arg['name'] == output and len(arg['shape']) > 1 and isinstance(
                arg['shape'][1], int):
            return arg['shape'][1]
    return None


def check_graph(folder: str, meta: dict, signature: dict) -> None:
    """Check ``meta.json`` against the graph it describes.

    Detectors: the outputs are those of ``head.num_levels`` levels (and of
    the score factor), one stride and one set of base anchors per level,
    and in baked mode ``classes`` / ``label_ids`` have one entry per class
    the classifier scores (its channels / ``head.num_base_priors``).
    Segmentors: ``seg_logits`` exists and, baked, has one channel per class
    (one channel: a binary head with one or two class names).

    Args:
        folder (str): The export folder.
        meta (dict): Its ``meta.json``.
        signature (dict): The graph's signature (:func:`check_signature`).

    Raises:
        ExportError: Naming the ``meta.json`` field and the graph.
    """
    meta_path = osp.join(folder, META_FILE)
    path = osp.join(folder, meta['onnx'])
    names = [a['name'] for a in signature['outputs']]
    head = meta['head']
    classes = meta.get('classes')
    baked = meta['mode'] == 'baked'
    if baked:
        if not isinstance(classes, list) or not classes:
            raise ExportError(f'{meta_path}: field classes must list the '
                              f'class names of the baked graph, got '
                              f'{classes!r}; export again.')
        label_ids = meta.get('label_ids')
        if label_ids is not None and len(label_ids) != len(classes):
            raise ExportError(
                f'{meta_path}: field label_ids has {len(label_ids)} ids for '
                f'{len(classes)} classes (field classes); give one id per '
                'class or export again.')
    if meta['task'] == 'segmentation':
        if 'seg_logits' not in names:
            raise ExportError(f'{path} has no output seg_logits (outputs '
                              f'{names}), but {meta_path} field task says '
                              'segmentation; export again.')
        channels = _channels(signature, 'seg_logits')
        if baked and channels is not None and not (
                channels == len(classes) or
            (channels == 1 and len(classes) <= 2)):
            raise ExportError(
                f'{meta_path}: field classes names {len(classes)} classes '
                f'{classes[:8]}, but {path} scores {channels} (seg_logits '
                f'has {channels} channels); give one name per class.')
        return
    levels = head.get('num_levels')
    kinds = ['cls_score', 'bbox_pred'] + (['score_factor'] if head.get(
        'with_score_factor') else [])
    found = sorted(int(n.rsplit('_', 1)[1]) for n in names
                   if n.startswith('cls_score_'))
    want = sorted(f'{k}_{level}' for k in kinds
                  for level in range(levels if isinstance(levels, int) else 0))
    if sorted(names) != want:
        raise ExportError(
            f'{meta_path}: field head.num_levels={levels!r} (with_score_'
            f'factor={head.get("with_score_factor")!r}) expects the outputs '
            f'{want}, but {path} has {sorted(names)} ({len(found)} levels); '
            'the graph and meta.json come from different exports.')
    priors = head.get('priors') or {}
    strides = priors.get('strides')
    if not isinstance(strides, list) or len(strides) != levels or not all(
            isinstance(s, list) and len(s) == 2 and all(
                isinstance(v, (int, float)) and v > 0 for v in s)
            for s in strides):
        raise ExportError(
            f'{meta_path}: field head.priors.strides must hold one positive '
            f'[stride_w, stride_h] per level ({levels} levels), got '
            f'{strides!r}.')
    if priors.get('type') == 'anchor' and len(
            priors.get('base_anchors') or []) != levels:
        raise ExportError(
            f'{meta_path}: field head.priors.base_anchors has '
            f'{len(priors.get("base_anchors") or [])} levels, the graph '
            f'{levels}.')
    num_priors = head.get('num_base_priors')
    if not isinstance(num_priors, int) or num_priors < 1:
        raise ExportError(f'{meta_path}: field head.num_base_priors must be '
                          f'a positive int, got {num_priors!r}.')
    for level in range(levels):
        box = _channels(signature, f'bbox_pred_{level}')
        if box is not None and box != 4 * num_priors:
            raise ExportError(
                f'{meta_path}: field head.num_base_priors={num_priors}, but '
                f'{path} output bbox_pred_{level} has {box} channels '
                f'(4 per prior: {box / 4:g} priors).')
        cls = _channels(signature, f'cls_score_{level}')
        if baked and cls is not None and cls != num_priors * len(classes):
            raise ExportError(
                f'{meta_path}: field classes names {len(classes)} classes '
                f'{classes[:8]}, but {path} scores {cls / num_priors:g} '
                f'(cls_score_{level} has {cls} channels = {num_priors} base '
                f'priors x {cls / num_priors:g} classes); give one name per '
                'class the graph scores, or export again.')


def check_feature_sizes(outputs: Dict[str, np.ndarray],
                        input_shape: Sequence[int], meta: dict,
                        folder: str) -> None:
    """Check the strides of ``meta.json`` against the feature maps.

    Level ``l`` of an input of height ``H`` has ``ceil(H / stride_l)``
    rows (``floor`` accepted too), and likewise for the width; a wrong
    stride would place every prior, so every box, elsewhere.

    Args:
        outputs (dict[str, np.ndarray]): Raw outputs of the graph.
        input_shape (Sequence[int]): ``[B, 3, H, W]`` of the batch.
        meta (dict): ``meta.json``.
        folder (str): The export folder (for the message).

    Raises:
        ExportError: Naming ``head.priors.strides[l]``.
    """
    height, width = input_shape[-2:]
    for level, (stride_w, stride_h) in enumerate(
            meta['head']['priors']['strides']):
        rows, cols = outputs[f'cls_score_{level}'].shape[-2:]
        ok_h = rows in (math.floor(height / stride_h),
                        math.ceil(height / stride_h))
        ok_w = cols in (math.floor(width / stride_w),
                        math.ceil(width / stride_w))
        if not (ok_h and ok_w):
            raise ExportError(
                f'{osp.join(folder, META_FILE)}: field head.priors.strides['
                f'{level}] = {[stride_w, stride_h]} does not fit '
                f'{osp.join(folder, meta["onnx"])}: a {height}x{width} input '
                f'gives a {rows}x{cols} map at level {level}, i.e. stride '
                f'about {height / max(rows, 1):g}; the boxes would be '
                'misplaced. Export again (or fix the stride).')


def max_prompts() -> int:
    """The prompt limit: ``MMVLM_MAX_PROMPTS`` if set, else
    :data:`MAX_PROMPTS`."""
    value = os.environ.get(MAX_PROMPTS_ENV)
    if value is None or not value.strip():
        return MAX_PROMPTS
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if limit < 1:
        raise ValueError(f'{MAX_PROMPTS_ENV}={value!r} is not a positive '
                         'integer; set e.g. MMVLM_MAX_PROMPTS=500000.')
    return limit

# ---------------------------------------------------------------- images
def read_image(path: str) -> np.ndarray:
    """Read an image file as ``[H, W, 3]`` uint8 RGB (Pillow decodes it).

    Args:
        path (str): Image file.

    Returns:
        np.ndarray: RGB pixels.
    """
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert('RGB'))


def rescale_size(width: int, height: int,
                 scale: Sequence[int]) -> Tuple[int, int]:
    """Output size of a keep-ratio resize (mmcv's ``rescale_size``).

    Args:
        width (int): Input width.
        height (int): Input height.
        scale (Sequence[int]): ``(long edge, short edge)`` limits.

    Returns:
        tuple[int, int]: ``(new_width, new_height)``.
    """
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width),
                 short_edge / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def _linear_weights(
        out_size: int, in_size: int, align_corners: bool,
        clamp_low: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of a 1-d linear resize."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        src = dst * ratio
    else:
        src = (dst + 0.5) * (in_size / out_size) - 0.5
        if clamp_low:
            src = np.maximum(src, 0.0)
    low = np.floor(src).astype(np.int64)
    frac = src - low
    low = np.clip(low, 0, in_size - 1)
    high = np.clip(low + 1, 0, in_size - 1)
    return low, high, frac


def resize_bilinear(array: np.ndarray,
                    size: Tuple[int, int],
                    align_corners: bool = False) -> np.ndarray:
    """Bilinear resize of the last two axes (``torch`` / OpenCV sampling).

    Args:
        array (np.ndarray): ``[..., H, W]`` values.
        size (tuple[int, int]): Output ``(height, width)``.
        align_corners (bool): torch's ``align_corners``.

    Returns:
        np.ndarray: ``[..., h, w]`` in the input's float dtype (float32 for
        integer input).
    """
    height, width = array.shape[-2:]
    if (height, width) == tuple(size):
        return array.copy()
    dtype = array.dtype if array.dtype.kind == 'f' else np.float32
    y0, y1, fy = _linear_weights(size[0], height, align_corners, True)
    x0, x1, fx = _linear_weights(size[1], width, align_corners, True)
    fy = fy.astype(dtype)[:, None]
    fx = fx.astype(dtype)
    data = array.astype(dtype, copy=False)
    top = data[..., y0, :]
    bottom = data[..., y1, :]
    rows = top + (bottom - top) * fy
    left = rows[..., x0]
    right = rows[..., x1]
    return left + (right - left) * fx


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``[H, W, C]`` uint8 image with bilinear sampling.

    OpenCV (used by mmcv) rounds with fixed-point weights, so a resized
    pixel may differ from mmcv's by one grey level; images that need no
    resize are passed through unchanged.
    """
    if image.shape[:2] == (height, width):
        return image
    chw = np.moveaxis(image, -1, 0)
    out = resize_bilinear(chw, (height, width))
    return np.clip(np.rint(np.moveaxis(out, 0, -1)), 0, 255).astype(np.uint8)


def preprocess(images: Sequence[np.ndarray],
               meta: dict) -> Tuple[np.ndarray, List[dict]]:
    """Resize, normalise and pad images as the model's test pipeline does.

    Args:
        images (Sequence[np.ndarray]): ``[H, W, 3]`` uint8 RGB images (a
            single array is one image).
        meta (dict): ``meta.json`` of the export.

    Returns:
        tuple[np.ndarray, list[dict]]: ``[B, 3, H, W]`` float32 batch and,
        per image, ``ori_shape``, ``img_shape`` and ``scale_factor``
        (``(w_scale, h_scale)``).
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    spec = meta['preprocess']
    mean = np.asarray(spec['mean'], np.float32).reshape(3, 1, 1)
    std = np.asarray(spec['std'], np.float32).reshape(3, 1, 1)
    arrays, image_metas = [], []
    for image in images:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                'preprocess() takes [H, W, 3] uint8 RGB images, got '
                f'{image.dtype} {image.shape}; read files with read_image().')
        height, width = image.shape[:2]
        scale_factor = (1.0, 1.0)
        resize = spec.get('resize')
        if resize:
            if resize.get('keep_ratio', True):
                new_w, new_h = rescale_size(width, height, resize['scale'])
            else:
                new_w, new_h = resize['scale']
            image = resize_image(image, new_w, new_h)
            scale_factor = (new_w / width, new_h / height)
        if spec.get('channel_order', 'rgb') == 'bgr':
            image = image[..., ::-1]
        chw = np.transpose(image, (2, 0, 1)).astype(np.float32)
        arrays.append((chw - mean) / std)
        image_metas.append(
            dict(ori_shape=(height, width),
                 img_shape=tuple(image.shape[:2]),
                 scale_factor=scale_factor))
    return pad_batch(arrays, spec), image_metas


def pad_batch(arrays: Sequence[np.ndarray], spec: dict) -> np.ndarray:
    """Pad ``[3, H, W]`` arrays bottom-right into one batch.

    Args:
        arrays (Sequence[np.ndarray]): Normalised images.
        spec (dict): ``meta['preprocess']`` (``size_divisor``,
            ``pad_size``, ``pad_value``).

    Returns:
        np.ndarray: ``[B, 3, H, W]`` float32.
    """
    height = max(a.shape[1] for a in arrays)
    width = max(a.shape[2] for a in arrays)
    if spec.get('pad_size'):
        height = max(height, spec['pad_size'][0])
        width = max(width, spec['pad_size'][1])
    divisor = spec.get('size_divisor') or 1
    height = int(math.ceil(height / divisor)) * divisor
    width = int(math.ceil(width / divisor)) * divisor
    batch = np.full((len(arrays), 3, height, width),
                    spec.get('pad_value', 0),
                    dtype=np.float32)
    for i, array in enumerate(arrays):
        batch[i, :, :array.shape[1], :array.shape[2]] = array
    return batch


# ---------------------------------------------------------------- boxes
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in the input's dtype."""
    return (1 / (1 + np.exp(-x))).astype(x.dtype, copy=False)


def grid_priors(priors: dict, level: int, height: int,
                width: int) -> np.ndarray:
    """Priors of one feature level, in mmdet's order (row-major, then
    base priors).

    Args:
        priors (dict): ``meta['head']['priors']``: ``type`` ``'anchor'``
            (``base_anchors`` per level) or ``'point'`` (``offset``).
        level (int): Feature level.
        height (int): Feature map height.
        width (int): Feature map width.

    Returns:
        np.ndarray: ``[H * W * A, 4]`` anchors or ``[H * W, 2]`` points.
    """
    stride_w, stride_h = priors['strides'][level]
    if priors['type'] == 'anchor':
        base = np.asarray(priors['base_anchors'][level], np.float32)
        shift_x = np.arange(width, dtype=np.float32) * np.float32(stride_w)
        shift_y = np.arange(height, dtype=np.float32) * np.float32(stride_h)
        xx = np.tile(shift_x, height)
        yy = np.repeat(shift_y, width)
        shifts = np.stack([xx, yy, xx, yy], axis=-1)
        return (base[None] + shifts[:, None]).reshape(-1, 4)
    if priors['type'] == 'point':
        offset = np.float32(priors.get('offset', 0.5))
        shift_x = (np.arange(width, dtype=np.float32) +
                   offset) * np.float32(stride_w)
        shift_y = (np.arange(height, dtype=np.float32) +
                   offset) * np.float32(stride_h)
        return np.stack([np.tile(shift_x, height),
                         np.repeat(shift_y, width)],
                        axis=-1)
    raise ValueError(f'Unknown prior type {priors["type"]!r}.')


def delta2bbox(rois: np.ndarray, deltas: np.ndarray, coder: dict,
               max_shape: Optional[Tuple[int, int]]) -> np.ndarray:
    """mmdet's ``DeltaXYWHBBoxCoder.decode`` in float32.

    Args:
        rois (np.ndarray): ``[N, 4]`` anchors / proposals.
        deltas (np.ndarray): ``[N, 4]`` predicted deltas.
        coder (dict): ``means``, ``stds``, ``wh_ratio_clip``,
            ``clip_border``, ``add_ctr_clamp``, ``ctr_clamp``.
        max_shape (tuple[int, int], optional): ``(H, W)`` to clip to.

    Returns:
        np.ndarray: ``[N, 4]`` boxes ``x1, y1, x2, y2``.
    """
    if len(deltas) == 0:
        return deltas.reshape(0, 4)
    means = np.asarray(coder['means'], np.float32)
    stds = np.asarray(coder['stds'], np.float32)
    denorm = deltas * stds + means
    dxy, dwh = denorm[:, :2], denorm[:, 2:]
    pxy = (rois[:, :2] + rois[:, 2:]) * np.float32(0.5)
    pwh = rois[:, 2:] - rois[:, :2]
    dxy_wh = pwh * dxy
    max_ratio = float(abs(np.log(coder['wh_ratio_clip'])))
    if coder.get('add_ctr_clamp', False):
        clamp = float(coder['ctr_clamp'])
        dxy_wh = np.clip(dxy_wh, -clamp, clamp)
        dwh = np.minimum(dwh, np.float32(max_ratio))
    else:
        dwh = np.clip(dwh, np.float32(-max_ratio), np.float32(max_ratio))
    gxy = pxy + dxy_wh
    gwh = pwh * np.exp(dwh)
    half = gwh * np.float32(0.5)
    boxes = np.concatenate([gxy - half, gxy + half], axis=-1)
    if coder.get('clip_border', True) and max_shape is not None:
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, max_shape[1])
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, max_shape[0])
    return boxes


def distance2bbox(points: np.ndarray, distance: np.ndarray, coder: dict,
                  max_shape: Optional[Tuple[int, int]]) -> np.ndarray:
    """mmdet's ``DistancePointBBoxCoder.decode`` (left, top, right,
    bottom distances from points)."""
    boxes = np.stack([
        points[:, 0] - distance[:, 0], points[:, 1] - distance[:, 1],
        points[:, 0] + distance[:, 2], points[:, 1] + distance[:, 3]
    ],
                     axis=-1)
    if coder.get('clip_border', True) and max_shape is not None:
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, max_shape[1])
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, max_shape[0])
    return boxes


def nms(boxes: np.ndarray, scores: np.ndarray,
        iou_threshold: float) -> np.ndarray:
    """Greedy NMS, mmcv's CPU algorithm (``offset=0``) in float32.

    Args:
        boxes (np.ndarray): ``[N, 4]`` float32.
        scores (np.ndarray): ``[N]``.
        iou_threshold (float): Boxes overlapping a kept one by more are
            dropped.

    Returns:
        np.ndarray: Kept indices, highest score first.
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind='stable')
    selected = np.ones(len(order), bool)
    threshold = np.float32(iou_threshold)
    zero = np.float32(0)
    for pos in range(len(order)):
        if not selected[pos]:
            continue
        i = order[pos]
        rest = order[pos + 1:]
        width = np.maximum(
            zero,
            np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        height = np.maximum(
            zero,
            np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = width * height
        overlap = inter / (areas[i] + areas[rest] - inter)
        selected[pos + 1:] &= ~(overlap > threshold)
    return order[selected]


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                iou_threshold: float) -> np.ndarray:
    """Class-aware NMS by coordinate offsets (mmcv's ``batched_nms``).

    Returns:
        np.ndarray: Kept indices, highest score first.
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    offsets = labels.astype(np.float32) * (boxes.max() + np.float32(1))
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def filter_scores_and_topk(
        scores: np.ndarray, score_thr: float,
        topk: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores above ``score_thr``, best ``topk`` (mmdet's function).

    Args:
        scores (np.ndarray): ``[N, K]`` class scores.
        score_thr (float): Threshold.
        topk (int): How many to keep (mmdet's slicing, ``-1`` drops one).

    Returns:
        tuple: kept ``scores``, ``labels`` and prior indices.
    """
    rows, cols = np.nonzero(scores > np.float32(score_thr))
    kept = scores[rows, cols]
    order = np.argsort(-kept, kind='stable')
    num = min(topk, len(kept))
    order = order[:num]
    return kept[order], cols[order], rows[order]


def decode_detections(
        outputs: Dict[str, np.ndarray],
        image_metas: List[dict],
        meta: dict,
        label_ids: Optional[Sequence[int]] = None
) -> List[Dict[str, np.ndarray]]:
    """Boxes, scores and labels from a dense head's raw outputs.

    Args:
        outputs (dict[str, np.ndarray]): The ONNX outputs by name
            (``cls_score_<l>``, ``bbox_pred_<l>`` and, for heads with a
            score factor such as ATSS / FCOS centerness,
            ``score_factor_<l>``), ``[B, C, H_l, W_l]`` each.
        image_metas (list[dict]): Per image, from :func:`preprocess`.
        meta (dict): ``meta.json`` of the export.
        label_ids (Sequence[int], optional): Label of each vocabulary entry
            (default: the export's ``label_ids``; indices into the
            vocabulary in text-embedding mode).

    Returns:
        list[dict]: Per image ``bboxes`` ``[N, 4]`` (original image
        pixels), ``scores`` ``[N]``, ``labels`` ``[N]``.
    """
    head = meta['head']
    cfg = head['test_cfg']
    if label_ids is None:
        label_ids = meta.get('label_ids')
    results = []
    for index, image_meta in enumerate(image_metas):
        all_scores, all_labels, all_boxes, all_factors = [], [], [], []
        for level in range(head['num_levels']):
            cls = outputs[f'cls_score_{level}'][index]
            reg = outputs[f'bbox_pred_{level}'][index]
            height, width = cls.shape[-2:]
            num_classes = cls.shape[0] // head['num_base_priors']
            cls = cls.transpose(1, 2, 0).reshape(-1, num_classes)
            reg = reg.transpose(1, 2, 0).reshape(-1, 4)
            scores = sigmoid(cls) if head.get('use_sigmoid', True) else \
                _softmax(cls)[:, :-1]
            scores, labels, keep = filter_scores_and_topk(
                scores, cfg.get('score_thr', 0), cfg.get('nms_pre', -1))
            priors = grid_priors(head['priors'], level, height, width)
            all_scores.append(scores)
            all_labels.append(labels)
            all_boxes.append((priors[keep], reg[keep]))
            if head.get('with_score_factor', False):
                factor = outputs[f'score_factor_{level}'][index].reshape(-1)
                all_factors.append(sigmoid(factor)[keep])
        priors = np.concatenate([b[0] for b in all_boxes])
        deltas = np.concatenate([b[1] for b in all_boxes])
        img_shape = image_meta['img_shape']
        coder = head['bbox_coder']
        if coder['type'] == 'DeltaXYWHBBoxCoder':
            boxes = delta2bbox(priors, deltas, coder, img_shape)
        elif coder['type'] == 'DistancePointBBoxCoder':
            boxes = distance2bbox(priors, deltas, coder, img_shape)
        else:
            raise ValueError(f'Unsupported box coder {coder["type"]!r}.')
        scores = np.concatenate(all_scores)
        labels = np.concatenate(all_labels)
        scale = np.asarray([1 / s for s in image_meta['scale_factor']] * 2,
                           np.float32)
        boxes = boxes * scale
        if all_factors:
            scores = scores * np.concatenate(all_factors)
        min_size = cfg.get('min_bbox_size', -1)
        if min_size >= 0:
            valid = ((boxes[:, 2] - boxes[:, 0]) > min_size) & (
                (boxes[:, 3] - boxes[:, 1]) > min_size)
            boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        if len(boxes):
            keep = batched_nms(boxes, scores, labels,
                               cfg['nms']['iou_threshold'])
            keep = keep[:cfg.get('max_per_img', len(keep))]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if label_ids is not None and len(labels):
            labels = np.asarray(label_ids, np.int64)[labels]
        results.append(
            dict(bboxes=boxes.astype(np.float32),
                 scores=scores.astype(np.float32),
                 labels=labels.astype(np.int64)))
    return results


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------- segmentation
def decode_segmentation(
        logits: np.ndarray,
        image_metas: List[dict],
        meta: dict,
        label_ids: Optional[Sequence[int]] = None) -> List[np.ndarray]:
    """Label maps from segmentation logits (mmseg's ``postprocess_result``).

    Args:
        logits (np.ndarray): ``[B, K, H, W]`` logits at the input size.
        image_metas (list[dict]): Per image, from :func:`preprocess`.
        meta (dict): ``meta.json`` of the export.
        label_ids (Sequence[int], optional): Label of each vocabulary entry.

    Returns:
        list[np.ndarray]: ``[H, W]`` int64 label map per image, at the
        original image size.
    """
    head = meta['head']
    if label_ids is None:
        label_ids = meta.get('label_ids')
    maps = []
    for index, image_meta in enumerate(image_metas):
        height, width = image_meta['img_shape']
        item = logits[index, :, :height, :width]
        size = tuple(image_meta['ori_shape'])
        if item.shape[-2:] != size:
            item = resize_bilinear(item, size,
                                   head.get('align_corners', False))
        if item.shape[0] > 1:
            pred = item.argmax(axis=0)
            if label_ids is not None:
                pred = np.asarray(label_ids, np.int64)[pred]
        else:
            pred = (sigmoid(item[0]) > head.get('threshold', 0.3))
        maps.append(pred.astype(np.int64))
    return maps


# ------------------------------------------------------------- sessions
def inference_session(path: str,
                      providers: Optional[List[str]] = None,
                      threads: Optional[int] = None):
    """An onnxruntime session (CPU unless ``providers`` say otherwise).

    Args:
        path (str): ``.onnx`` file.
        providers (list[str], optional): Execution providers.
        threads (int, optional): Intra-op threads (default: onnxruntime's).
    """
    import onnxruntime
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path,
                                        options,
                                        providers=providers
                                        or ['CPUExecutionProvider'])


# ------------------------------------------------------------ text side
def expand_prompts(vocabulary: Sequence[VocabEntry],
                   templates: Sequence[str]) -> Tuple[List[str], List[int]]:
    """Entries (names or tuples of synonyms) x templates -> prompts.

    Returns:
        tuple[list[str], list[int]]: Prompts and the entry of each.
    """
    if isinstance(vocabulary, str):
        raise ValueError(
            f'A vocabulary is a list of class names, got the string '
            f'{vocabulary!r}; write [{vocabulary!r}].')
    prompts, owners = [], []
    for index, entry in enumerate(vocabulary):
        names = [entry] if isinstance(entry, str) else list(entry)
        names = [n.strip() if isinstance(n, str) else n for n in names]
        if not names or not all(_visible(n) for n in names):
            raise ValueError(
                f'Vocabulary entry {index} ({entry!r}) is empty, invisible or '
                'holds a control character; give a visible class name.')
        for name in names:
            for template in templates:
                prompts.append(template.format(name))
                owners.append(index)
    return prompts, owners


def _visible(name) -> bool:
    """A non-empty string without control characters and with at least one
    visible character (mmvlm's ``check_synonyms`` rule)."""
    if not isinstance(name, str) or not name:
        return False
    if name.isprintable():
        return True
    categories = [unicodedata.category(c) for c in name]
    if any(cat == 'Cc' and not c.isspace()
           for cat, c in zip(categories, name)):
        return False
    return not all(cat in _INVISIBLE for cat in categories)


def check_prompt_count(vocabulary: Sequence[VocabEntry],
                       templates: Sequence[str]) -> int:
    """Count the prompts of a vocabulary; refuse more than the limit.

    Runs before anything is tokenised or encoded.

    Args:
        vocabulary (Sequence): Entries (names or tuples of synonyms).
        templates (Sequence[str]): The templates.

    Returns:
        int: entries x synonyms x templates.

    Raises:
        ValueError: Above :func:`max_prompts`, naming the count, the
            limit and how to raise it.
    """
    names = sum(1 if isinstance(e, str) else len(e) for e in vocabulary)
    count = names * len(templates)
    limit = max_prompts()
    if count > limit:
        raise ValueError(
            f'The vocabulary has {count:,} prompts to encode '
            f'({len(vocabulary):,} entries, {names:,} names with synonyms, '
            f'x {len(templates)} '
            f'templates), more than the limit of {limit:,}; nothing was '
            'encoded. Use fewer names, synonyms or templates, or raise the '
            f'limit: {MAX_PROMPTS_ENV}={count} in the environment.')
    return count


class TextEncoder:
    """The exported text encoder: a new vocabulary -> ``[K, D]`` embeddings.

    Tokenises with ``tokenizers`` (the ``tokenizer.json`` of the export),
    runs ``text_encoder.onnx`` (LM + learned prefix + projection) in
    batches of :data:`TEXT_BATCH` prompts and averages the prompts of each
    entry, as ``HFTextEncoder`` does; only the ``[K, D]`` sums are kept,
    so memory does not grow with the number of prompts. The files are
    checked against ``meta.json`` first.

    Args:
        folder (str): Export folder with ``text_encoder.onnx``.
        providers (list[str], optional): onnxruntime execution providers.
        threads (int, optional): Intra-op threads.
    """

    def __init__(self,
                 folder: str,
                 providers: Optional[List[str]] = None,
                 threads: Optional[int] = None) -> None:
        from tokenizers import Tokenizer
        self.meta = load_meta(folder)
        spec = self.meta.get('text_encoder')
        if spec is None:
            raise ValueError(f'The export in {folder} has no text encoder; '
                             'export it with --mode text.')
        self.spec = spec
        self.tokenizer = Tokenizer.from_file(
            verify_file(folder, self.meta, spec['tokenizer']))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.session = inference_session(
            verify_file(folder, self.meta, spec['onnx']), providers, threads)
        check_signature(folder, self.meta, spec['onnx'], self.session)

    def token_ids(self, prompts: Sequence[str]) -> List[List[int]]:
        """Token ids cut to the model's budget (mmvlm's PromptTokenizer)."""
        spec = self.spec
        special = set(spec['special_ids'])
        eos = spec.get('eos_id')
        out = []
        for enc in self.tokenizer.encode_batch(list(prompts)):
            seq = list(enc.ids)
            append = spec['append_eos'] and (not seq or seq[-1] != eos)
            budget = spec['max_length'] - spec['num_reserved'] - int(append)
            if len(seq) > budget:
                if seq[-1] in special and budget > 1:
                    seq = seq[:budget - 1] + seq[-1:]
                else:
                    seq = seq[:budget]
            if append:
                seq = seq + [eos]
            out.append(seq)
        return out

    def encode_prompts(self, prompts: Sequence[str]) -> np.ndarray:
        """``[N, D]`` L2-normalised embeddings of prompts (one call)."""
        seqs = self.token_ids(prompts)
        width = max(len(s) for s in seqs)
        ids = np.full((len(seqs), width), self.spec['pad_id'], np.int64)
        mask = np.zeros((len(seqs), width), np.int64)
        for i, seq in enumerate(seqs):
            ids[i, :len(seq)] = seq
            mask[i, :len(seq)] = 1
        return self.session.run(None, {
            'input_ids': ids,
            'attention_mask': mask
        })[0]

    def __call__(self, vocabulary: Sequence[VocabEntry]) -> np.ndarray:
        """``[K, D]`` L2-normalised embedding per vocabulary entry.

        Refuses more than :func:`max_prompts` prompts before encoding;
        prints its progress on stderr when it runs longer than
        :data:`PROGRESS_AFTER_S` seconds.
        """
        if isinstance(vocabulary, str):
            vocabulary = [vocabulary]  # expand_prompts names the mistake
        check_prompt_count(vocabulary, self.spec['templates'])
        prompts, owners = expand_prompts(vocabulary, self.spec['templates'])
        owners = np.asarray(owners)
        sums = None
        start = last = time.perf_counter()
        for begin in range(0, len(prompts), TEXT_BATCH):
            end = begin + TEXT_BATCH
            embeds = self.encode_prompts(prompts[begin:end])
            if sums is None:
                sums = np.zeros((len(vocabulary), embeds.shape[1]),
                                np.float32)
            np.add.at(sums, owners[begin:end], embeds)
            now = time.perf_counter()
            if now - start > PROGRESS_AFTER_S and (
                    now - last > PROGRESS_AFTER_S or end >= len(prompts)):
                last = now
                done = min(end, len(prompts))
                print(f'mmvlm_runtime: encoded {done:,} / {len(prompts):,} '
                      f'prompts in {now - start:.0f} s',
                      file=sys.stderr,
                      flush=True)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-12)


class _Session:
    """An onnxruntime session of an exported detector / segmentor.

    The graph file is checked against ``meta.json`` (size, SHA-256,
    signature, levels, classes) before the session is created.

    Args:
        folder (str): The export folder.
        providers (list[str], optional): onnxruntime execution providers.
        threads (int, optional): Intra-op threads.
    """

    def __init__(self,
                 folder: str,
                 providers: Optional[List[str]] = None,
                 threads: Optional[int] = None) -> None:
        self.folder = folder
        self.meta = load_meta(folder)
        path = verify_file(folder, self.meta, self.meta['onnx'])
        self.session = inference_session(path, providers, threads)
        self.signature = check_signature(folder, self.meta, self.meta['onnx'],
                                         self.session)
        check_graph(folder, self.meta, self.signature)
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def classes(self) -> Optional[List[str]]:
        """Class names of the baked vocabulary (None in text mode)."""
        return self.meta.get('classes')

    def run(self,
            batch: np.ndarray,
            text_embeds: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """Raw outputs by name for a preprocessed ``[B, 3, H, W]`` batch."""
        feeds = {'inputs': batch.astype(np.float32, copy=False)}
        if self.meta['mode'] == 'text':
            if text_embeds is None:
                raise ValueError(
                    'This export scores against text embeddings given at '
                    'run time: pass text_embeds=TextEncoder(folder)('
                    "['a cat', ...]).")
            text_embeds = np.asarray(text_embeds, np.float32)
            dims = [a['shape'] for a in self.signature['inputs']
                    if a['name'] == 'text_embeds']
            width = dims[0][-1] if dims and dims[0] else None
            if text_embeds.ndim != 2 or len(text_embeds) == 0 or (
                    isinstance(width, int)
                    and text_embeds.shape[1] != width):
                raise ValueError(
                    f'text_embeds must be [K, {width}] (K >= 1 class '
                    f'embeddings of this export), got {text_embeds.shape}; '
                    'use TextEncoder(folder)(names).')
            feeds['text_embeds'] = text_embeds
        elif text_embeds is not None:
            raise ValueError('This export has a baked vocabulary '
                             f'{self.classes}; text_embeds cannot change it '
                             '(export with --mode text for that).')
        outputs = dict(zip(self.output_names, self.session.run(None, feeds)))
        self._check_classes(outputs, text_embeds)
        return outputs

    def _check_classes(self, outputs: Dict[str, np.ndarray],
                       text_embeds: Optional[np.ndarray]) -> None:
        """The classifier scored as many classes as there are names."""
        if self.meta['task'] == 'detection':
            name, per_class = 'cls_score_0', self.meta['head'][
                'num_base_priors']
        else:
            name, per_class = 'seg_logits', 1
        channels = outputs[name].shape[1]
        expected = len(text_embeds) if text_embeds is not None else len(
            self.classes)
        if channels == expected * per_class or (name == 'seg_logits'
                                                 and channels == 1
                                                 and expected <= 2):
            return
        source = ('text_embeds' if text_embeds is not None else
                  f'{osp.join(self.folder, META_FILE)} field classes')
        raise ExportError(
            f'{source} gives {expected} classes, but '
            f'{osp.join(self.folder, self.meta["onnx"])} scored '
            f'{channels / per_class:g} ({name} has {channels} channels).')

    def _labels(self, text_embeds) -> Optional[Sequence[int]]:
        if text_embeds is not None:
            return list(range(len(text_embeds)))
        return None


class Detector(_Session):
    """An exported dense detector: image(s) -> boxes, scores, labels."""

    def __call__(
            self,
            images: Union[np.ndarray, Sequence[np.ndarray]],
            text_embeds: Optional[np.ndarray] = None
    ) -> Union[dict, List[dict]]:
        """Detect objects.

        Args:
            images (np.ndarray | list[np.ndarray]): ``[H, W, 3]`` uint8 RGB.
            text_embeds (np.ndarray, optional): ``[K, D]`` embeddings from
                :class:`TextEncoder` (text-mode exports only).

        Returns:
            dict | list[dict]: ``bboxes``, ``scores``, ``labels`` (baked:
            the exported label ids; text mode: vocabulary indices).
        """
        single = isinstance(images, np.ndarray) and images.ndim == 3
        batch, image_metas = preprocess(images, self.meta)
        outputs = self.run(batch, text_embeds)
        check_feature_sizes(outputs, batch.shape, self.meta, self.folder)
        results = decode_detections(outputs, image_metas, self.meta,
                                    self._labels(text_embeds))
        return results[0] if single else results


class Segmentor(_Session):
    """An exported segmentor: image(s) -> label maps."""

    def __call__(
        self,
        images: Union[np.ndarray, Sequence[np.ndarray]],
        text_embeds: Optional[np.ndarray] = None
    ) -> Union[np.ndarray, List[np.ndarray]]:
        """``[H, W]`` label map per image (see :class:`Detector`)."""
        single = isinstance(images, np.ndarray) and images.ndim == 3
        batch, image_metas = preprocess(images, self.meta)
        logits = self.run(batch, text_embeds)['seg_logits']
        if logits.shape[-2:] != batch.shape[-2:]:
            raise ExportError(
                f'{osp.join(self.folder, self.meta["onnx"])} returned '
                f'seg_logits of {logits.shape[-2]}x{logits.shape[-1]} for a '
                f'{batch.shape[-2]}x{batch.shape[-1]} input; the graph must '
                'resize its logits to the input (export again).')
        maps = decode_segmentation(logits, image_metas, self.meta,
                                   self._labels(text_embeds))
        return maps[0] if single else maps


def load_model(folder: str,
               providers: Optional[List[str]] = None,
               threads: Optional[int] = None) -> Union[Detector, Segmentor]:
    """The :class:`Detector` or :class:`Segmentor` of an export folder,
    checked against its ``meta.json``."""
    meta = load_meta(folder)
    task = meta['task']
    if task not in ('detection', 'segmentation'):
        raise ExportError(
            f'{osp.join(folder, META_FILE)}: field task is {task!r}; '
            "load_model() runs 'detection' and 'segmentation' exports (a "
            "'text_encoder' export is read with TextEncoder(folder)).")
    model = Detector if task == 'detection' else Segmentor
    return model(folder, providers, threads)
