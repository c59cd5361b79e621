"""Compare an export (onnxruntime + numpy runtime) with mmdet / mmseg.

The reference is the PyTorch model through the stock test pipeline and
post-processing (:func:`mmvlm.apis.detect` / :func:`mmvlm.apis.segment`);
the export runs through ``mmvlm_runtime`` of the export folder.
"""
import importlib.util
import os.path as osp
from types import ModuleType
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .onnx_export import RUNTIME_FILE

#: Tolerances of the parity checks (docs/deployment.md states them).
BOX_ATOL = 1e-2  # pixels
SCORE_ATOL = 1e-4
TEXT_MIN_COSINE = 1 - 1e-4
SEG_MIN_AGREEMENT = 0.999  # share of equal pixels (arg-max near-ties)


def load_runtime(export_dir: str) -> ModuleType:
    """Import ``mmvlm_runtime.py`` of an export folder by path.

    Args:
        export_dir (str): The export folder.

    Returns:
        module: Its runtime module (distinct per folder).
    """
    path = osp.join(export_dir, RUNTIME_FILE)
    name = f'mmvlm_runtime_{abs(hash(osp.abspath(path)))}'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
        dict: ``num`` (torch, onnx), ``same_labels``, ``max_box_diff``,
        ``max_score_diff`` (inf when the numbers differ), ``ok``.
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

    Detections whose score lies within :data:`SCORE_ATOL` of a cut (the
    score threshold, or the lowest kept score when ``max_per_img`` boxes
    were kept) may be in one result and not the other: a difference of
    1e-7 in a score decides which of two nearly tied boxes is the last one
    kept. All others must match one to one, in order.

    Args:
        want (dict): ``bboxes``, ``scores``, ``labels`` of PyTorch.
        got (dict): The same of the export.
        test_cfg (dict): The head's ``test_cfg`` (``score_thr``,
            ``max_per_img``).

    Returns:
        dict: ``num`` (both counts), ``num_compared``, ``same_labels``,
        ``max_box_diff``, ``max_score_diff`` (inf when the compared
        detections differ in number) and ``ok``.
    """
    floor = float(test_cfg.get('score_thr', 0))
    limit = test_cfg.get('max_per_img')
    for result in (want, got):
        if limit and len(result['scores']) >= limit:
            floor = max(floor, float(result['scores'].min()))
    report = dict(num=(len(want['scores']), len(got['scores'])))
    kept = []
    for result in (want, got):
        mask = result['scores'] > floor + SCORE_ATOL
        kept.append({k: v[mask] for k, v in result.items()})
    want, got = kept
    report['num_compared'] = len(want['scores'])
    same = len(want['scores']) == len(got['scores'])
    report['same_labels'] = bool(
        same and np.array_equal(want['labels'], got['labels']))
    if same and len(got['scores']):
        report['max_box_diff'] = float(
            np.abs(want['bboxes'] - got['bboxes']).max())
        report['max_score_diff'] = float(
            np.abs(want['scores'] - got['scores']).max())
    else:
        report['max_box_diff'] = report['max_score_diff'] = (0.0 if same else
                                                             float('inf'))
    report['ok'] = (report['same_labels']
                    and report['max_box_diff'] <= BOX_ATOL
                    and report['max_score_diff'] <= SCORE_ATOL)
    return report


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
