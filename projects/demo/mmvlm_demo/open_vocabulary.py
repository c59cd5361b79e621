"""Open-vocabulary inference of the demo models with prompts never trained on.

Run by ``projects/demo/run_demo.sh`` after training. It loads the trained
language-guided models with :mod:`mmvlm.apis` and changes only their
prompts, through the models' run-time vocabulary (``detect`` /
``segment`` call ``model.set_vocabulary``), which wins over the class
names the test pipeline puts into each sample:

- detector (trained on the single prompt "tree"): prompts ``tree`` and
  ``dead tree`` on the test tile ``SOAP_061`` whose crowns are annotated
  "Dead" / "Alive" in the source data. It reports the mean best score each
  prompt gives to dead and to alive crowns, i.e. whether the prompt "dead
  tree" separates them.
- segmentor (trained on 12 region names, hippocampus pixels ignored): the
  trained names plus ``left hippocampus`` / ``right hippocampus`` on the
  test slices, scored against the held-out labels (``ann_dir_heldout``).

It writes labelled PNGs (drawn by :mod:`mmvlm.apis` /
:mod:`mmvlm.visualization`) and ``open_vocab.json`` into
``<work-dir>/open_vocab/``.

Usage (from the repository root)::

    python -m projects.demo.mmvlm_demo.open_vocabulary \\
        --work-dir work_dirs/demo --data-root data/demo
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import numpy as np

DET_PROMPTS = ('tree', 'dead tree')
DET_TILE_PREFIX = 'SOAP_061'
#: Boxes below this score are not drawn.
DET_DRAW_SCORE_THR = 0.15
#: A prediction counts for a ground-truth crown from this IoU on.
DET_IOU_THR = 0.3
#: Zoom of the segmentation PNGs (the slices are 217 x 181 pixels).
SEG_DRAW_SCALE = 3


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


def dumped_config(run_dir: str) -> str:
    """The config mmengine dumped into a training work dir.

    Args:
        run_dir (str): Training work directory.

    Returns:
        str: Path of the one ``*.py`` file in it.
    """
    configs = [f for f in os.listdir(run_dir) if f.endswith('.py')]
    if len(configs) != 1:
        raise FileNotFoundError(f'Expected one dumped config in {run_dir}, '
                                f'found {configs}.')
    return osp.join(run_dir, configs[0])


def prompt_scores_per_gt(gt_boxes, pred_instances, num_prompts: int,
                         iou_thr: float = DET_IOU_THR) -> np.ndarray:
    """Best score each prompt gives to each ground-truth box.

    Args:
        gt_boxes (Tensor): ``[G, 4]`` boxes ``x1, y1, x2, y2``.
        pred_instances (InstanceData): Predictions with ``bboxes``
            ``[N, 4]``, ``scores`` ``[N]`` and ``labels`` ``[N]`` (prompt
            index of each box).
        num_prompts (int): Number of prompts.
        iou_thr (float): Minimum IoU for a prediction to count.

    Returns:
        np.ndarray: ``[G, num_prompts]``, 0 where no prediction overlaps.
    """
    import torch
    from mmdet.structures.bbox import bbox_overlaps
    out = torch.zeros(len(gt_boxes), num_prompts)
    if len(gt_boxes) == 0 or len(pred_instances) == 0:
        return out.numpy()
    iou = bbox_overlaps(gt_boxes.float(), pred_instances.bboxes.float())
    for k in range(num_prompts):
        sel = pred_instances.labels == k
        if not sel.any():
            continue
        scores = pred_instances.scores[sel][None].expand(len(gt_boxes), -1)
        hit = iou[:, sel] >= iou_thr
        out[:, k] = torch.where(hit, scores,
                                torch.zeros_like(scores)).max(dim=1).values
    return out.numpy()


def run_detector(work_dir: str,
                 data_root: str,
                 out_dir: str,
                 tile_prefix: str = DET_TILE_PREFIX) -> dict:
    """Prompts ``tree`` / ``dead tree`` on the dead-and-alive test tile.

    Args:
        work_dir (str): Demo work directory (holds ``det_lg/``).
        data_root (str): Demo data root (holds ``trees/``).
        out_dir (str): Folder for the PNGs.
        tile_prefix (str): File-name start of the test tiles to run on.

    Returns:
        dict: Prompts, PNG paths, crowns per source label and the mean
        best score of each prompt on them.
    """
    import torch

    from mmvlm.apis import (detect, draw_detections,
                            init_language_guided_detector)
    run_dir = osp.join(work_dir, 'det_lg')
    model = init_language_guided_detector(
        dumped_config(run_dir), latest_checkpoint(run_dir))
    with open(osp.join(data_root, 'trees', 'annotations', 'test.json')) as f:
        coco = json.load(f)
    images = [i for i in coco['images']
              if i['file_name'].startswith(tile_prefix)]
    if not images:
        raise FileNotFoundError(f'No {tile_prefix} tile in the test split '
                                f'of {data_root}/trees.')
    result = dict(prompts=list(DET_PROMPTS), images=[])
    per_label = {'Dead': [], 'Alive': []}
    for img in images:
        path = osp.join(data_root, 'trees', 'images', img['file_name'])
        prediction, names = detect(model, path, list(DET_PROMPTS))
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        gt = torch.tensor([[a['bbox'][0], a['bbox'][1], a['bbox'][0] +
                            a['bbox'][2], a['bbox'][1] + a['bbox'][3]]
                           for a in anns]).reshape(-1, 4)
        best = prompt_scores_per_gt(gt, prediction.pred_instances,
                                    len(names))
        for a, row in zip(anns, best):
            if a.get('source_label') in per_label:
                per_label[a['source_label']].append(row.tolist())
        out_png = osp.join(out_dir, f'det_{osp.splitext(img["file_name"])[0]}'
                           '_tree_vs_dead_tree.png')
        draw_detections(path, prediction, names, out_png, DET_DRAW_SCORE_THR)
        result['images'].append(out_png)
    result['mean_score'] = {
        label: dict(zip(DET_PROMPTS,
                        np.mean(rows, axis=0).round(3).tolist()))
        for label, rows in per_label.items() if rows}
    result['num_crowns'] = {k: len(v) for k, v in per_label.items()}
    return result


def draw_label_map(img_path: str, label_map: np.ndarray,
                   prompts: Sequence[str], out_png: str) -> str:
    """Write the regions of a label map, labelled with their prompts.

    Args:
        img_path (str): The image.
        label_map (np.ndarray): ``[H, W]`` prompt index per pixel; 0 (the
            background prompt) is not drawn.
        prompts (Sequence[str]): Prompt of each index.
        out_png (str): Output PNG.

    Returns:
        str: ``out_png``.
    """
    import mmcv

    from mmvlm.visualization import save_prompt_mask_overlay
    image = mmcv.imrescale(mmcv.imread(img_path, channel_order='rgb'),
                           SEG_DRAW_SCALE, interpolation='nearest')
    label_map = mmcv.imrescale(label_map.astype(np.uint8), SEG_DRAW_SCALE,
                               interpolation='nearest')
    masks = np.stack([label_map == k for k in range(1, len(prompts))])
    return save_prompt_mask_overlay(image, masks, list(prompts[1:]), out_png)


def run_segmentor(work_dir: str, data_root: str, out_dir: str) -> dict:
    """Trained region names + held-out hippocampus prompts on test slices.

    Args:
        work_dir (str): Demo work directory (holds ``seg_lg/``).
        data_root (str): Demo data root (holds ``brain/``).
        out_dir (str): Folder for the PNGs.

    Returns:
        dict: Prompts, IoU (%) of each prompt against the held-out labels,
        pixels predicted for each held-out prompt, PNG paths.
    """
    from PIL import Image

    from mmvlm.apis import init_language_guided_segmentor, segment
    run_dir = osp.join(work_dir, 'seg_lg')
    model = init_language_guided_segmentor(
        dumped_config(run_dir), latest_checkpoint(run_dir))
    with open(osp.join(data_root, 'brain', 'meta.json')) as f:
        meta = json.load(f)
    prompts = list(meta['classes']) + list(meta['heldout_classes'])
    num = len(prompts)
    inter, union, predicted = np.zeros(num), np.zeros(num), np.zeros(num)
    heldout_ids = list(range(len(meta['classes']), num))
    examples = []
    for z in meta['test_slices']:
        name = f'colin27_axial_z{z:03d}.png'
        img_path = osp.join(data_root, 'brain', 'img_dir', 'test', name)
        gt = np.asarray(Image.open(osp.join(
            data_root, 'brain', 'ann_dir_heldout', 'test', name)))
        prediction, names = segment(model, img_path, prompts)
        pred = prediction.pred_sem_seg.data[0].cpu().numpy()
        valid = gt != meta['ignore_index']
        for k in range(num):
            p, g = (pred == k) & valid, (gt == k) & valid
            inter[k] += np.logical_and(p, g).sum()
            union[k] += np.logical_or(p, g).sum()
            predicted[k] += p.sum()
        if np.isin(gt, heldout_ids).any() and len(examples) < 2:
            examples.append(draw_label_map(
                img_path, pred, names,
                osp.join(out_dir, f'seg_{osp.splitext(name)[0]}'
                         '_with_hippocampus_prompts.png')))
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return dict(
        prompts=prompts,
        heldout=list(meta['heldout_classes']),
        iou={p: (None if np.isnan(v) else round(float(v) * 100, 2))
             for p, v in zip(prompts, iou)},
        predicted_pixels={prompts[k]: int(predicted[k])
                          for k in heldout_ids},
        images=examples)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Open-vocabulary inference of the trained demo models.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
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
