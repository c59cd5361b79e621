"""Open-vocabulary inference of the demo models with prompts never trained on.

Run by ``tools/run_demo.sh`` after training. It loads the trained
language-guided models and changes only their prompts:

- detector (trained on the single prompt "tree"): prompts ``tree`` and
  ``dead tree`` on the test tile ``SOAP_061`` whose crowns are annotated
  "Dead" / "Alive" in the source data. It reports the mean score each prompt
  gives to dead and to alive crowns, i.e. whether the prompt "dead tree"
  separates them.
- segmentor (trained on 12 region names, hippocampus pixels ignored): the
  12 names plus ``left hippocampus`` / ``right hippocampus`` on the test
  slices, scored against the held-out labels (``ann_dir_heldout``).

The prompts go through the same path as in training: they replace the
classes of ``LoadClassTexts`` in the test pipeline. It writes labelled PNGs
and ``open_vocab.json`` into ``<work-dir>/open_vocab/``.

Usage::

    python tools/demo_open_vocab.py --work-dir work_dirs/demo --data-root data/demo
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

DET_PROMPTS = ('tree', 'dead tree')
DET_TILE_PREFIX = 'SOAP_061'
SEG_HELDOUT = ('left hippocampus', 'right hippocampus')
COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
           (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
           (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
           (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195)]


def latest_checkpoint(run_dir: str) -> str:
    """Checkpoint named in ``<run_dir>/last_checkpoint``.

    Args:
        run_dir (str): Training work directory.

    Returns:
        str: Path of the checkpoint.
    """
    pointer = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(
            f'No {pointer}: train the model first (bash tools/run_demo.sh).')
    with open(pointer) as f:
        ckpt = osp.join(run_dir, osp.basename(f.read().strip()))
    if not osp.isfile(ckpt):
        raise FileNotFoundError(f'{pointer} names {ckpt}, which is missing.')
    return ckpt


def set_prompts(pipeline: List[dict], prompts: Sequence[str]) -> None:
    """Replace the classes of every ``LoadClassTexts`` step (in place).

    Args:
        pipeline (list[dict]): Test pipeline config.
        prompts (Sequence[str]): The new vocabulary.
    """
    found = False
    for step in pipeline:
        if step.get('type') == 'LoadClassTexts':
            step['classes'] = list(prompts)
            found = True
    if not found:
        raise ValueError('The test pipeline has no LoadClassTexts step, so '
                         'prompts cannot be set; is this a language-guided '
                         'config?')


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of two sets of ``x1, y1, x2, y2`` boxes.

    Args:
        a (np.ndarray): ``[N, 4]``.
        b (np.ndarray): ``[M, 4]``.

    Returns:
        np.ndarray: ``[N, M]``.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(min=0), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None] - inter)


def prompt_scores_per_gt(gt_boxes: np.ndarray, boxes: np.ndarray,
                         scores: np.ndarray, labels: np.ndarray,
                         num_prompts: int,
                         iou_thr: float = 0.3) -> np.ndarray:
    """Best score each prompt gives to each ground-truth box.

    Args:
        gt_boxes (np.ndarray): ``[G, 4]``.
        boxes (np.ndarray): ``[N, 4]`` predictions.
        scores (np.ndarray): ``[N]``.
        labels (np.ndarray): ``[N]`` prompt index of each prediction.
        num_prompts (int): Number of prompts.
        iou_thr (float): Minimum IoU for a prediction to count.

    Returns:
        np.ndarray: ``[G, num_prompts]``, 0 where no prediction overlaps.
    """
    out = np.zeros((len(gt_boxes), num_prompts))
    iou = box_iou(gt_boxes, boxes)
    for k in range(num_prompts):
        sel = labels == k
        if not sel.any():
            continue
        ok = iou[:, sel] >= iou_thr
        out[:, k] = np.where(ok, scores[sel][None], 0).max(axis=1)
    return out


def draw_boxes(img_path: str, boxes, labels, scores, prompts, out_path: str,
               score_thr: float, max_boxes: int = 30) -> None:
    """Save an image (2x) with the best boxes labelled by prompt and score."""
    image = Image.open(img_path).convert('RGB')
    scale = 2
    image = image.resize((image.width * scale, image.height * scale))
    draw = ImageDraw.Draw(image)
    order = np.argsort(-np.asarray(scores))[:max_boxes]
    for i in order:
        box, label, score = boxes[i] * scale, labels[i], scores[i]
        if score < score_thr:
            continue
        colour = COLOURS[int(label) % len(COLOURS)]
        draw.rectangle([float(v) for v in box], outline=colour, width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 1),
                  f'{prompts[int(label)]} {score:.2f}', fill=colour)
    image.save(out_path)


def draw_mask(img_path: str, pred: np.ndarray, prompts, out_path: str,
              only: Optional[Sequence[int]] = None) -> None:
    """Save an image with a mask overlay and the prompt of each region."""
    base = np.asarray(Image.open(img_path).convert('RGB')).astype(np.float32)
    overlay = base.copy()
    ids = [i for i in np.unique(pred).tolist() if i > 0 and (
        only is None or i in only)]
    for i in ids:
        overlay[pred == i] = COLOURS[i % len(COLOURS)]
    mixed = (0.5 * base + 0.5 * overlay).astype(np.uint8)
    scale = 3
    image = Image.fromarray(mixed).resize(
        (mixed.shape[1] * scale, mixed.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    for i in ids:
        ys, xs = np.nonzero(pred == i)
        draw.text((float(xs.mean()) * scale - 20, float(ys.mean()) * scale),
                  prompts[i], fill=(255, 255, 255))
    image.save(out_path)


def run_detector(work_dir: str, data_root: str, out_dir: str) -> dict:
    """Prompts ``tree`` / ``dead tree`` on the dead-and-alive test tile."""
    from mmdet.apis import inference_detector, init_detector
    from mmengine.config import Config

    run_dir = osp.join(work_dir, 'det_lg')
    cfg = Config.fromfile(_config_in(run_dir))
    set_prompts(cfg.test_dataloader.dataset.pipeline, DET_PROMPTS)
    # label ids of the predictions index the prompts (the text decides the
    # classes; num_classes only bounds the label ids)
    cfg.model.bbox_head.num_classes = len(DET_PROMPTS)
    model = init_detector(cfg, latest_checkpoint(run_dir), device='cpu')
    with open(osp.join(data_root, 'trees', 'annotations', 'test.json')) as f:
        coco = json.load(f)
    images = [i for i in coco['images']
              if i['file_name'].startswith(DET_TILE_PREFIX)]
    if not images:
        raise FileNotFoundError(f'No {DET_TILE_PREFIX} tile in the test split '
                                f'of {data_root}/trees.')
    result = dict(prompts=list(DET_PROMPTS), images=[])
    per_label = {'Dead': [], 'Alive': []}
    for img in images:
        path = osp.join(data_root, 'trees', 'images', img['file_name'])
        pred = inference_detector(model, path).pred_instances
        boxes = pred.bboxes.numpy()
        scores = pred.scores.numpy()
        labels = pred.labels.numpy()
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        gt = np.array([[a['bbox'][0], a['bbox'][1], a['bbox'][0] +
                        a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                       for a in anns]).reshape(-1, 4)
        best = prompt_scores_per_gt(gt, boxes, scores, labels,
                                    len(DET_PROMPTS))
        for a, row in zip(anns, best):
            if a.get('source_label') in per_label:
                per_label[a['source_label']].append(row.tolist())
        out_png = osp.join(out_dir, f'det_{osp.splitext(img["file_name"])[0]}'
                           '_tree_vs_dead_tree.png')
        draw_boxes(path, boxes, labels, scores, DET_PROMPTS, out_png, 0.05)
        result['images'].append(out_png)
    result['mean_score'] = {
        label: dict(zip(DET_PROMPTS,
                        np.mean(rows, axis=0).round(3).tolist()))
        for label, rows in per_label.items() if rows}
    result['num_crowns'] = {k: len(v) for k, v in per_label.items()}
    return result


def _config_in(run_dir: str) -> str:
    """The config file mmengine dumped into a training work dir."""
    configs = [f for f in os.listdir(run_dir) if f.endswith('.py')]
    if len(configs) != 1:
        raise FileNotFoundError(f'Expected one dumped config in {run_dir}, '
                                f'found {configs}.')
    return osp.join(run_dir, configs[0])


def run_segmentor(work_dir: str, data_root: str, out_dir: str) -> dict:
    """Trained region names + held-out hippocampus prompts on test slices."""
    from mmengine.config import Config
    from mmseg.apis import inference_model, init_model

    run_dir = osp.join(work_dir, 'seg_lg')
    cfg = Config.fromfile(_config_in(run_dir))
    with open(osp.join(data_root, 'brain', 'meta.json')) as f:
        meta = json.load(f)
    prompts = list(meta['classes']) + list(meta['heldout_classes'])
    set_prompts(cfg.test_dataloader.dataset.pipeline, prompts)
    cfg.model.decode_head.num_classes = len(prompts)
    model = init_model(cfg, latest_checkpoint(run_dir), device='cpu')
    num = len(prompts)
    inter, union, predicted = np.zeros(num), np.zeros(num), np.zeros(num)
    heldout_ids = list(range(len(meta['classes']), num))
    examples = []
    for z in meta['test_slices']:
        name = f'colin27_axial_z{z:03d}.png'
        img_path = osp.join(data_root, 'brain', 'img_dir', 'test', name)
        gt = np.asarray(Image.open(osp.join(
            data_root, 'brain', 'ann_dir_heldout', 'test', name)))
        pred = inference_model(model, img_path).pred_sem_seg.data[0].numpy()
        valid = gt != 255
        for k in range(num):
            p, g = (pred == k) & valid, (gt == k) & valid
            inter[k] += np.logical_and(p, g).sum()
            union[k] += np.logical_or(p, g).sum()
            predicted[k] += p.sum()
        if np.isin(gt, heldout_ids).any() and len(examples) < 2:
            out_png = osp.join(out_dir, f'seg_{osp.splitext(name)[0]}'
                               '_with_hippocampus_prompts.png')
            draw_mask(img_path, pred, prompts, out_png)
            examples.append(out_png)
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return dict(
        prompts=prompts,
        heldout=list(meta['heldout_classes']),
        iou={p: (None if np.isnan(v) else round(float(v) * 100, 2))
             for p, v in zip(prompts, iou)},
        predicted_pixels={prompts[k]: int(predicted[k])
                          for k in heldout_ids},
        images=examples)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Open-vocabulary inference of the trained demo models.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmvlm  # noqa: F401  registers the language-guided components
    out_dir = osp.join(args.work_dir, 'open_vocab')
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    results['detection'] = run_detector(args.work_dir, args.data_root,
                                        out_dir)
    print('[open_vocab] detection:', json.dumps(results['detection']))
    results['segmentation'] = run_segmentor(args.work_dir, args.data_root,
                                            out_dir)
    print('[open_vocab] segmentation held-out IoU:', {
        p: results['segmentation']['iou'][p]
        for p in results['segmentation']['heldout']})
    with open(osp.join(out_dir, 'open_vocab.json'), 'w') as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
