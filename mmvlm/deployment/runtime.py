"""Run mmvlm ONNX exports without PyTorch: pre- and post-processing in numpy.

This file imports only ``numpy`` and the standard library at module level
(``onnxruntime``, ``tokenizers`` and Pillow are imported by the functions
that need them). The export tool (``tools/deployment/export_onnx.py``)
copies it as ``mmvlm_runtime.py`` into every export folder, next to the
``.onnx`` files and ``meta.json``, so a deployed process loads it from
there without importing the ``mmvlm`` package (which imports torch)::

    import sys; sys.path.insert(0, 'work_dirs/export')
    import mmvlm_runtime
    detector = mmvlm_runtime.Detector('work_dirs/export')
    result = detector(mmvlm_runtime.read_image('tile.png'))

The post-processing reproduces mmdet's and mmseg's test-time steps:
prior generation, box decoding, score filtering and top-k, class-aware NMS
(mmcv's CPU algorithm), rescaling to the original image; and for
segmentation, removing padding, bilinear resizing to the original size and
the arg-max. ``docs/deployment.md`` states what is supported and the
measured tolerances.
"""
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

#: Name of the metadata file in an export folder.
META_FILE = 'meta.json'
#: Version of the ``meta.json`` layout this module reads.
FORMAT_VERSION = 1

VocabEntry = Union[str, Sequence[str]]


def load_meta(folder: str) -> dict:
    """Read ``meta.json`` of an export folder.

    Args:
        folder (str): The export folder.

    Returns:
        dict: The metadata written by the export tool.
    """
    path = osp.join(folder, META_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} does not exist: give the folder written by '
            'tools/deployment/export_onnx.py.')
    with open(path, encoding='utf-8') as f:
        meta = json.load(f)
    if meta.get('format_version') != FORMAT_VERSION:
        raise ValueError(
            f'{path} has format_version {meta.get("format_version")!r}; this '
            f'runtime reads version {FORMAT_VERSION}. Export again with the '
            'installed mmvlm, or use the mmvlm_runtime.py of that folder.')
    return meta


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
        names = [n.strip() for n in names]
        if not names or not all(names):
            raise ValueError(f'Vocabulary entry {index} ({entry!r}) is '
                             'empty; give a class name.')
        for name in names:
            for template in templates:
                prompts.append(template.format(name))
                owners.append(index)
    return prompts, owners


class TextEncoder:
    """The exported text encoder: a new vocabulary -> ``[K, D]`` embeddings.

    Tokenises with ``tokenizers`` (the ``tokenizer.json`` of the export),
    runs ``text_encoder.onnx`` (LM + learned prefix + projection) and
    averages the prompts of each entry, as ``HFTextEncoder`` does.

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
            osp.join(folder, spec['tokenizer']))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.session = inference_session(osp.join(folder, spec['onnx']),
                                         providers, threads)

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
        """``[N, D]`` L2-normalised embeddings of prompts."""
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
        """``[K, D]`` L2-normalised embedding per vocabulary entry."""
        prompts, owners = expand_prompts(vocabulary, self.spec['templates'])
        embeds = self.encode_prompts(prompts)
        sums = np.zeros((len(vocabulary), embeds.shape[1]), np.float32)
        np.add.at(sums, np.asarray(owners), embeds)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-12)


class _Session:
    """An onnxruntime session of an exported detector / segmentor.

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
        self.session = inference_session(osp.join(folder, self.meta['onnx']),
                                         providers, threads)
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
            feeds['text_embeds'] = np.asarray(text_embeds, np.float32)
        elif text_embeds is not None:
            raise ValueError('This export has a baked vocabulary '
                             f'{self.classes}; text_embeds cannot change it '
                             '(export with --mode text for that).')
        return dict(zip(self.output_names, self.session.run(None, feeds)))

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
        maps = decode_segmentation(logits, image_metas, self.meta,
                                   self._labels(text_embeds))
        return maps[0] if single else maps


def load_model(folder: str,
               providers: Optional[List[str]] = None,
               threads: Optional[int] = None) -> Union[Detector, Segmentor]:
    """The :class:`Detector` or :class:`Segmentor` of an export folder."""
    task = load_meta(folder)['task']
    model = Detector if task == 'detection' else Segmentor
    return model(folder, providers, threads)
