"""Compare an export (onnxruntime + numpy runtime) with mmdet / mmseg.

The reference is the PyTorch model through the stock test pipeline and
post-processing (:func:`mmvlm.apis.detect` / :func:`mmvlm.apis.segment`);
the export runs through ``mmvlm_runtime`` of the export folder.
"""
import hashlib
import importlib.util
import os.path as osp
from types import ModuleType
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from . import runtime
from .onnx_export import RUNTIME_FILE

#: Tolerances of the parity checks (docs/deployment.md states them).
BOX_ATOL = 1e-2  # pixels
SCORE_ATOL = 1e-4
TEXT_MIN_COSINE = 1 - 1e-4
SEG_MIN_AGREEMENT = 0.999  # share of equal pixels (arg-max near-ties)


def load_runtime(export_dir: str) -> ModuleType:
    """Import ``mmvlm_runtime.py`` of an export folder by path, once its
    size and SHA-256 match ``meta.json`` (the folder is not put on
    ``sys.path``).

    Args:
        export_dir (str): The export folder.

    Returns:
        module: Its runtime module (distinct per folder).

    Raises:
        ExportError: The runtime file differs from the one exported.
    """
    meta = runtime.load_meta(export_dir)
    path = runtime.verify_file(export_dir, meta, RUNTIME_FILE)
    with open(path, 'rb') as f:
        source = f.read()
    if hashlib.sha256(source).hexdigest() != meta['sha256'][RUNTIME_FILE]:
        raise runtime.ExportError(f'{path} changed while it was verified.')
    name = f'mmvlm_runtime_{abs(hash(osp.abspath(path)))}'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, path, 'exec'), module.__dict__)
    return module


def _vocabulary(meta: dict, prompts: Optional[Sequence]) -> tuple:
    """Entries and label ids the PyTorch model is run with."""
    if prompts is not None:
        return [p if isinstance(p, str) else tuple(p) for p in prompts], None
    entries = meta.get('vocabulary') or meta['default_vocabulary']
    return ([e if isinstance(e, str) else tuple(e)
             for e in entries], meta.get('label_ids'))


def _torch_detections(model: nn.Module, image_rgb: np.ndarray,
                      vocabulary: tuple) -> dict:
    from mmvlm.apis import detect
    from mmvlm.apis.model_vocabulary import temporary_vocabulary
    bgr = np.ascontiguousarray(image_rgb[..., ::-1])
    if getattr(model, 'is_baked', False):
        sample, _ = detect(model, bgr)
    else:
        with temporary_vocabulary(model, *vocabulary):
            sample, _ = detect(model, bgr)
    pred = sample.pred_instances
    return dict(bboxes=pred.bboxes.numpy(),
                scores=pred.scores.numpy(),
                labels=pred.labels.numpy())


def detection_parity(model: nn.Module,
                     export_dir: str,
                     image_rgb: np.ndarray,
                     prompts: Optional[Sequence] = None) -> dict:
    """Detections of the export and of mmdet on one image.

    Args:
        model (nn.Module): The language-guided (or baked) PyTorch model.
        export_dir (str): Its export folder.
        image_rgb (np.ndarray): ``[H, W, 3]`` uint8 RGB image.
        prompts (Sequence, optional): Vocabulary for both (text-mode
            exports: embedded by the exported text encoder); None: the
            exported / model vocabulary.

    Returns:
        dict: ``num`` (torch, onnx), ``num_compared``, ``all_matched``,
        ``max_box_diff``, ``max_score_diff`` (inf when one is unmatched)
        and ``ok`` (see :func:`compare_detections`).
    """
    runtime = load_runtime(export_dir)
    detector = runtime.Detector(export_dir)
    text = None
    if detector.meta['mode'] == 'text':
        prompts = list(prompts or detector.meta['default_vocabulary'])
        text = runtime.TextEncoder(export_dir)(prompts)
    got = detector(image_rgb, text)
    with torch.no_grad():
        want = _torch_detections(model, image_rgb,
                                 _vocabulary(detector.meta, prompts))
    return compare_detections(want, got, detector.meta['head']['test_cfg'])


def compare_detections(want: dict, got: dict, test_cfg: dict) -> dict:
    """Compare two detection results (PyTorch, export).

    Detections whose score lies within ``2 * SCORE_ATOL`` of a cut (the
    score threshold, or the lowest kept score when ``max_per_img`` boxes
    were kept) may be in one result and not the other: a difference of
    1e-7 in a score decides which of two nearly tied boxes is the last one
    kept. Every other detection of either result must have a partner in
    the other (same label, box and score within the tolerances; one to
    one); nearly tied ones may come in another order.

    Args:
        want (dict): ``bboxes``, ``scores``, ``labels`` of PyTorch.
        got (dict): The same of the export.
        test_cfg (dict): The head's ``test_cfg`` (``score_thr``,
            ``max_per_img``).

    Returns:
        dict: ``num`` (both counts), ``num_compared``, ``all_matched``,
        ``max_box_diff``, ``max_score_diff`` over the pairs (inf when some
        detection has no partner) and ``ok``.
    """
    floor = float(test_cfg.get('score_thr', 0))
    limit = test_cfg.get('max_per_img')
    for result in (want, got):
        if limit and len(result['scores']) >= limit:
            floor = max(floor, float(result['scores'].min()))
    report = dict(num=(len(want['scores']), len(got['scores'])))
    # detections clear of the cut must have a partner on the other side
    margin = floor + 2 * SCORE_ATOL
    clear_want = {k: v[want['scores'] > margin] for k, v in want.items()}
    clear_got = {k: v[got['scores'] > margin] for k, v in got.items()}
    pairs = _match(clear_want, got)
    back = _match(clear_got, want)
    report['num_compared'] = len(clear_want['scores'])
    report['all_matched'] = pairs is not None and back is not None
    if report['all_matched'] and pairs:
        rows, cols = np.asarray(pairs).T
        report['max_box_diff'] = float(
            np.abs(clear_want['bboxes'][rows] - got['bboxes'][cols]).max())
        report['max_score_diff'] = float(
            np.abs(clear_want['scores'][rows] - got['scores'][cols]).max())
    else:
        report['max_box_diff'] = report['max_score_diff'] = (
            0.0 if report['all_matched'] else float('inf'))
    report['ok'] = report['all_matched']
    return report


def _match(want: dict, got: dict) -> Optional[list]:
    """One-to-one pairs ``(i, j)`` of detections with the same label, boxes
    within :data:`BOX_ATOL` and scores within :data:`SCORE_ATOL` (the
    order of nearly tied detections, e.g. two classes on one box, may
    differ); None when some detection has no partner."""
    used = np.zeros(len(got['scores']), bool)
    pairs = []
    for i in range(len(want['scores'])):
        box = np.abs(got['bboxes'] - want['bboxes'][i]).max(axis=1)
        fits = ((got['labels'] == want['labels'][i]) & (box <= BOX_ATOL)
                & (np.abs(got['scores'] - want['scores'][i]) <= SCORE_ATOL)
                & ~used)
        if not fits.any():
            return None
        j = int(np.argmin(np.where(fits, box, np.inf)))
        used[j] = True
        pairs.append((i, j))
    return pairs


def segmentation_parity(model: nn.Module,
                        export_dir: str,
                        image_rgb: np.ndarray,
                        prompts: Optional[Sequence] = None) -> dict:
    """Label maps of the export and of mmseg on one image.

    Returns:
        dict: ``agreement`` (share of equal pixels), ``shape``, ``ok``.
    """
    from mmvlm.apis import segment
    from mmvlm.apis.model_vocabulary import temporary_vocabulary
    runtime = load_runtime(export_dir)
    segmentor = runtime.Segmentor(export_dir)
    text = None
    if segmentor.meta['mode'] == 'text':
        prompts = list(prompts or segmentor.meta['default_vocabulary'])
        text = runtime.TextEncoder(export_dir)(prompts)
    got = segmentor(image_rgb, text)
    bgr = np.ascontiguousarray(image_rgb[..., ::-1])
    with torch.no_grad(), temporary_vocabulary(
            model, *_vocabulary(segmentor.meta, prompts)):
        sample, _ = segment(model, bgr)
    want = sample.pred_sem_seg.data[0].numpy()
    agreement = float((want == got).mean()) if want.shape == got.shape \
        else 0.0
    return dict(agreement=agreement,
                shape=list(got.shape),
                ok=agreement >= SEG_MIN_AGREEMENT)


def text_encoder_parity(encoder: nn.Module, export_dir: str,
                        vocabulary: Sequence) -> dict:
    """Cosine of the exported and the PyTorch text embeddings.

    Returns:
        dict: ``min_cosine`` over the entries and ``ok``.
    """
    runtime = load_runtime(export_dir)
    got = runtime.TextEncoder(export_dir)(list(vocabulary))
    with torch.no_grad():
        want = encoder.encode_vocabulary(list(vocabulary)).numpy()
    cosine = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) *
                                     np.linalg.norm(want, axis=-1))
    return dict(min_cosine=float(cosine.min()),
                ok=bool(cosine.min() >= TEXT_MIN_COSINE))
