"""Open-vocabulary evaluation of the many-concept detectors and segmentors.

Every number comes from :func:`mmvlm.apis.evaluate_prompts` (the model's
test dataloader with exactly the prompts asked; per prompt mmdet's COCO
AP50 for detectors, mmseg's IoU of the class for segmentors, which also
get the ``background`` entry) on a split of :mod:`.concept_data`:

- **seen**: the seen concepts in a fresh layout, all 574 seen names asked;
- **held-out, zero-shot**: scenes of test-held-out concepts, only the 164
  test-held-out names asked;
- **chance**: the same scenes and names, each class asked for with another
  held-out name (a fixed random derangement): what a model that finds
  objects but cannot read their names scores;
- **held-out, generalised**: scenes with two seen and two held-out concepts,
  seen + held-out names competing (738 names; OV-COCO's novel AP);
- **per name**: each held-out name's AP50 with its nearest seen name by
  MiniLM text similarity.

Each in both art styles (``emojione``, the training style, and ``noto``).
Stock (closed-set) models are scored on the seen splits by the same metric
(detectors: mmengine's test loop; segmentors: the IoU of each seen class,
as for the language-guided twin). A split's mean is over the names present
in it.

Usage::

    python -m projects.demo.mmvlm_demo.concept_eval \\
        --work-dir work_dirs/demo --data-root data/demo --key concepts_lg \\
        --config CFG --checkpoint CKPT [--stock | --held-out-only |
        --validation] [--per-name]
"""
import argparse
import copy
import functools
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import concept_names
from .concepts import STYLES

#: The model config whose test pipeline every many-concept split uses
#: (also for models fine-tuned on other data, e.g. the trees detectors).
CONCEPT_CONFIG = ('projects/demo/configs/'
                  'lg-atss_efficientnet-lite0_minilm_concepts.py')
#: The same for segmentors (label maps, background + names).
SEG_CONCEPT_CONFIG = ('projects/demo/configs/'
                      'lg-fpn_efficientnet-lite0_minilm_concepts.py')
#: Seed of the chance baseline's derangement of the held-out names.
CHANCE_SEED = 0
#: The segmentors' background entry, asked with every split's names.
BACKGROUND = 'background'
#: Label-map value of ignored pixels (575 classes: 255 is a class index).
SEG_IGNORE_INDEX = 65535
#: The per-prompt metric (row key of :func:`mmvlm.apis.evaluate_prompts`)
#: and its result-key suffix, per task.
METRICS = dict(det=('AP50', 'ap50'), seg=('IoU', 'miou'))


def task_of(model) -> str:
    """``'seg'`` for a segmentor (its config's scope is mmseg), else
    ``'det'`` (also for None, as in tests that fake the model)."""
    cfg = getattr(model, 'cfg', None)
    scope = cfg.get('default_scope', None) if cfg is not None else None
    return 'seg' if scope == 'mmseg' else 'det'


@functools.lru_cache(maxsize=2)
def _concept_test_dataloader(task: str = 'det') -> dict:
    """The test dataloader of :data:`CONCEPT_CONFIG` or
    :data:`SEG_CONCEPT_CONFIG` (read once: parsing the mmdet / mmseg bases
    takes a second or two, and every split asks for it)."""
    from mmengine.config import Config
    config = SEG_CONCEPT_CONFIG if task == 'seg' else CONCEPT_CONFIG
    return Config.fromfile(config).test_dataloader.to_dict()


def split_options(data_root: str, split: str, names: Sequence[str],
                  task: str = 'det') -> dict:
    """``cfg_options`` that make the test dataloader read one split.

    The test pipeline and loader are those of :data:`CONCEPT_CONFIG`
    (detectors) or :data:`SEG_CONCEPT_CONFIG` (segmentors), so a model
    trained on other data (the trees fine-tunes) sees the scenes as the
    many-concept models do.

    Args:
        data_root (str): The demo data root.
        split (str): A split of :func:`.concept_data.split_names`.
        names (Sequence[str]): The split's categories, in id order
            (segmentors: without the background, which comes first).
        task (str): ``'det'`` or ``'seg'``.

    Returns:
        dict: Options for :func:`mmvlm.apis.evaluate_prompts`.
    """
    root = osp.abspath(osp.join(data_root, 'concepts'))
    ann = osp.join(root, 'annotations', f'{split}.json')
    if not osp.isfile(ann):
        raise FileNotFoundError(
            f'{ann} is missing: prepare the many-concept data first '
            '(python -m projects.demo.mmvlm_demo.prepare_data --only '
            'concepts).')
    loader = copy.deepcopy(_concept_test_dataloader(task))
    if task == 'seg':
        loader['dataset'].update(
            data_root=root + '/',
            data_prefix=dict(img_path=f'images/{split}',
                             seg_map_path=f'seg_maps/{split}'),
            metainfo=dict(classes=(BACKGROUND, ) + tuple(names),
                          palette=[(255, 96, 0)] * (len(names) + 1)))
        return {
            'test_dataloader': loader,
            'test_evaluator': dict(type='IoUMetric', iou_metrics=['mIoU'],
                                   ignore_index=SEG_IGNORE_INDEX),
        }
    loader['dataset'].update(
        data_root=root + '/',
        ann_file=ann,
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=tuple(names)))
    return {
        'test_dataloader': loader,
        'test_evaluator': dict(type='CocoMetric', ann_file=ann,
                               metric='bbox', format_only=False),
    }


def derangement(names: Sequence[str], seed: int = CHANCE_SEED) -> List[str]:
    """The names in a fixed random order where no name keeps its place.

    Args:
        names (Sequence[str]): At least two names.
        seed (int): Random seed.

    Returns:
        list[str]: ``out[i] != names[i]`` for every ``i``.
    """
    if len(names) < 2:
        raise ValueError(f'A chance baseline needs two names or more, got '
                         f'{list(names)}.')
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    # a random cyclic shift of a random order has no fixed point
    shifted = np.roll(order, 1)
    out = [''] * len(names)
    for src, dst in zip(shifted, order):
        out[dst] = names[src]
    return out


def classes_with_boxes(data_root: str, split: str) -> Dict[str, int]:
    """Boxes per category name of a split.

    Args:
        data_root (str): The demo data root.
        split (str): The split.

    Returns:
        dict[str, int]: Name -> number of boxes (names without boxes left
        out).
    """
    path = osp.join(data_root, 'concepts', 'annotations', f'{split}.json')
    with open(path) as f:
        coco = json.load(f)
    names = {c['id']: c['name'] for c in coco['categories']}
    counts: Dict[str, int] = {}
    for ann in coco['annotations']:
        name = names[ann['category_id']]
        counts[name] = counts.get(name, 0) + 1
    return counts


def mean_ap50(rows: Sequence[dict], classes: Sequence[str],
              metric: str = 'AP50') -> float:
    """Mean AP50 (or another metric, percent) of the rows whose class is
    in ``classes``.

    Args:
        rows (Sequence[dict]): Rows of :func:`mmvlm.apis.evaluate_prompts`.
        classes (Sequence[str]): Classes to average over (those present in
            the split).
        metric (str): The row key: ``'AP50'`` or ``'IoU'``.

    Returns:
        float: The mean, rounded to 0.1; NaN when no row matches.
    """
    wanted = set(classes)
    values = [r[metric] for r in rows if r['class'] in wanted]
    return round(float(np.mean(values)), 1) if values else float('nan')


def score_names(model, data_root: str, split: str, names: Sequence[str],
                prompts: Optional[Sequence[str]] = None) -> List[dict]:
    """AP50 (detectors) or IoU (segmentors) per class of a split, each
    class asked with one prompt (segmentors: with ``background`` too).

    Args:
        model: A language-guided detector or segmentor built with its
            ``cfg``.
        data_root (str): The demo data root.
        split (str): The split.
        names (Sequence[str]): The split's classes.
        prompts (Sequence[str], optional): The prompt of each class (the
            class names themselves by default).

    Returns:
        list[dict]: Rows of :func:`mmvlm.apis.evaluate_prompts` (without
        the background's row).
    """
    from mmvlm.apis import evaluate_prompts
    task = task_of(model)
    pairs = list(zip(prompts or names, names))
    if task == 'seg':
        pairs = [(BACKGROUND, BACKGROUND)] + pairs
    rows = evaluate_prompts(
        model,
        pairs,
        mode='together',
        cfg_options=split_options(data_root, split, names, task))
    return [r for r in rows if task == 'det' or r['class'] != BACKGROUND]


def nearest_seen(names: Sequence[str]) -> Dict[str, Tuple[str, float]]:
    """Each name's nearest seen name by MiniLM text similarity.

    Args:
        names (Sequence[str]): Held-out names.

    Returns:
        dict[str, tuple[str, float]]: Name -> (seen name, cosine).
    """
    import torch

    from mmvlm.models.text_encoders import HFTextEncoder
    encoder = HFTextEncoder(name_or_path='minilm', embed_dims=None)
    with torch.no_grad():
        held = encoder.encode_vocabulary(list(names))
        seen = encoder.encode_vocabulary(list(concept_names.SEEN))
    sims = held @ seen.T
    best = sims.argmax(1)
    return {
        n: (concept_names.SEEN[int(best[i])], round(float(sims[i, best[i]]),
                                                    3))
        for i, n in enumerate(names)
    }


def evaluate_language_guided(model, data_root: str,
                             styles: Sequence[str] = STYLES,
                             held_out_only: bool = False) -> dict:
    """Every open-vocabulary number of one language-guided detector or
    segmentor.

    Args:
        model: The detector or segmentor, built with its ``cfg``.
        data_root (str): The demo data root.
        styles (Sequence[str]): Art styles to test.
        held_out_only (bool): Only the zero-shot held-out split and its
            chance baseline (retention checks of fine-tuned models).

    Returns:
        dict: Per style ``<style>``: ``seen_<m>``, ``held_out_<m>``,
        ``chance_<m>``, ``generalised_held_out_<m>``,
        ``generalised_seen_<m>`` (``<m>``: ``ap50`` for detectors,
        ``miou`` for segmentors, in percent; the last three absent with
        ``held_out_only``) and ``held_out_per_name`` (name -> AP50 / IoU).
    """
    metric, suffix = METRICS[task_of(model)]
    held = list(concept_names.TEST_HELD_OUT)
    out: Dict[str, dict] = {}
    for style in styles:
        res: Dict[str, object] = {}
        split = f'test_held_out_{style}'
        present = classes_with_boxes(data_root, split)
        rows = score_names(model, data_root, split, held)
        asked = [n for n in held if n in present]
        res[f'held_out_{suffix}'] = mean_ap50(rows, asked, metric)
        res['held_out_per_name'] = {r['class']: r[metric] for r in rows}
        chance = score_names(model, data_root, split, held,
                             derangement(held))
        res[f'chance_{suffix}'] = mean_ap50(chance, asked, metric)
        if not held_out_only:
            seen = list(concept_names.SEEN)
            split = f'test_seen_{style}'
            present = classes_with_boxes(data_root, split)
            res[f'seen_{suffix}'] = mean_ap50(
                score_names(model, data_root, split, seen),
                [n for n in seen if n in present], metric)
            mixed = f'test_mixed_{style}'
            present = classes_with_boxes(data_root, mixed)
            rows = score_names(model, data_root, mixed, seen + held)
            res[f'generalised_held_out_{suffix}'] = mean_ap50(
                rows, [n for n in held if n in present], metric)
            res[f'generalised_seen_{suffix}'] = mean_ap50(
                rows, [n for n in seen if n in present], metric)
        out[style] = res
    return out


def evaluate_validation(model, data_root: str) -> dict:
    """Held-out AP50 on the validation names (the split for choices).

    Args:
        model: The detector or segmentor, built with its ``cfg``.
        data_root (str): The demo data root.

    Returns:
        dict: ``held_out_<m>`` and ``chance_<m>`` of the
        validation-held-out names (EmojiOne art), in percent (``<m>``:
        ``ap50`` or ``miou``).
    """
    metric, suffix = METRICS[task_of(model)]
    val = list(concept_names.VAL_HELD_OUT)
    present = classes_with_boxes(data_root, 'val_held_out')
    asked = [n for n in val if n in present]
    rows = score_names(model, data_root, 'val_held_out', val)
    chance = score_names(model, data_root, 'val_held_out', val,
                         derangement(val))
    return {
        f'held_out_{suffix}': mean_ap50(rows, asked, metric),
        f'chance_{suffix}': mean_ap50(chance, asked, metric)
    }


def evaluate_stock(config: str, checkpoint: str, data_root: str,
                   work_dir: str, styles: Sequence[str] = STYLES) -> dict:
    """Seen AP50 (mIoU) of a closed-set (stock) detector (segmentor),
    per art style.

    The same COCO metric through mmengine's test loop (a closed set cannot
    be asked for held-out names).

    Args:
        config (str): The model's config.
        checkpoint (str): Its checkpoint.
        data_root (str): The demo data root.
        work_dir (str): Folder for the test runs' logs.
        styles (Sequence[str]): Art styles to test.

    Returns:
        dict: ``<style>`` -> ``dict(seen_ap50=...)`` (segmentors:
        ``seen_miou``).
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    out = {}
    seen = list(concept_names.SEEN)
    if Config.fromfile(config).get('default_scope') == 'mmseg':
        return evaluate_stock_segmentor(config, checkpoint, data_root,
                                        styles)
    for style in styles:
        cfg = Config.fromfile(config)
        opts = split_options(data_root, f'test_seen_{style}', seen)
        opts['test_dataloader']['dataset']['pipeline'] = \
            cfg.test_dataloader.dataset.pipeline
        cfg.merge_from_dict(opts)
        cfg.load_from = checkpoint
        cfg.work_dir = osp.join(work_dir, f'test_seen_{style}')
        cfg.experiment_name = f'concept_eval_seen_{style}'
        cfg.default_hooks.pop('visualization', None)
        metrics = Runner.from_cfg(cfg).test()
        # CocoMetric returns no key when the model kept no box at all:
        # that is an AP of 0
        out[style] = dict(seen_ap50=round(
            100 * float(metrics.get('coco/bbox_mAP_50', 0.0)), 1))
    return out


def class_iou(model, dataloader, num_classes: int,
              ignore_index: int = SEG_IGNORE_INDEX) -> np.ndarray:
    """IoU of every class of a closed-set segmentor over a dataloader.

    The same per-class IoU as :func:`mmvlm.apis.evaluate_prompts` gives a
    language-guided segmentor (intersection over union of the class's
    pixels, summed over the images).

    Args:
        model: An mmseg segmentor (eval mode).
        dataloader: Its test dataloader.
        num_classes (int): Classes of the model.
        ignore_index (int): Ground-truth value of ignored pixels.

    Returns:
        np.ndarray: ``[num_classes]`` IoU in percent (NaN where the class
        has neither ground truth nor prediction).
    """
    import torch
    from mmseg.evaluation.metrics import IoUMetric
    inter = torch.zeros(num_classes, dtype=torch.float64)
    union = torch.zeros(num_classes, dtype=torch.float64)
    with torch.no_grad():
        for batch in dataloader:
            for sample in model.test_step(batch):
                pred = sample.pred_sem_seg.data.squeeze(0)
                gt = sample.gt_sem_seg.data.squeeze(0).to(pred)
                i, u, _, _ = IoUMetric.intersect_and_union(
                    pred, gt, num_classes, ignore_index)
                inter += i.double()
                union += u.double()
    with np.errstate(invalid='ignore', divide='ignore'):
        return (100 * inter / union).numpy()


def evaluate_stock_segmentor(config: str, checkpoint: str, data_root: str,
                             styles: Sequence[str] = STYLES) -> dict:
    """Seen mIoU of a closed-set segmentor, per art style: the mean IoU of
    the seen names present in the split (as for the language-guided
    twin; the background left out).

    Args:
        config (str): The model's config.
        checkpoint (str): Its checkpoint.
        data_root (str): The demo data root.
        styles (Sequence[str]): Art styles to test.

    Returns:
        dict: ``<style>`` -> ``dict(seen_miou=...)``.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from mmseg.apis import init_model
    seen = list(concept_names.SEEN)
    model = init_model(config, checkpoint, device='cpu')
    out = {}
    for style in styles:
        split = f'test_seen_{style}'
        loader = split_options(data_root, split, seen,
                               'seg')['test_dataloader']
        loader.update(num_workers=0, persistent_workers=False)
        with DefaultScope.overwrite_default_scope('mmseg'):
            dataloader = Runner.build_dataloader(loader)
        iou = class_iou(model, dataloader, len(seen) + 1)
        present = classes_with_boxes(data_root, split)
        values = [iou[i + 1] for i, n in enumerate(seen) if n in present]
        out[style] = dict(
            seen_miou=round(float(np.mean(np.nan_to_num(values))), 1))
    return out


def draw_pictures(model, data_root: str, out_dir: str, key: str,
                  num_scenes: int = 2) -> List[str]:
    """Prediction pictures with the names asked drawn on them.

    Zero-shot: test-held-out scenes (EmojiOne art) with only the 164
    held-out names asked; side by side: mixed scenes with the seen and the
    held-out names asked together (the labels say which name won).
    Detectors: the names on the boxes; segmentors: the names (with
    ``background``) on the regions that won them.

    Args:
        model: The language-guided detector or segmentor.
        data_root (str): The demo data root.
        out_dir (str): Folder for the PNGs.
        key (str): Run key (file-name prefix).
        num_scenes (int): Scenes per kind.

    Returns:
        list[str]: The PNGs written.
    """
    from mmvlm.apis import detect, draw_detections, segment_and_draw
    from .open_vocabulary import draw_score_threshold

    def draw(img_path: str, names: List[str], out: str) -> None:
        if task_of(model) == 'seg':
            segment_and_draw(model, img_path, [BACKGROUND] + names, out)
            return
        prediction, labels = detect(model, img_path, names)
        draw_detections(img_path, prediction, labels, out,
                        draw_score_threshold(
                            prediction.pred_instances.scores))

    os.makedirs(out_dir, exist_ok=True)
    held = list(concept_names.TEST_HELD_OUT)
    asked = dict(
        held_out=('test_held_out_emojione', held),
        mixed=('test_mixed_emojione', list(concept_names.SEEN) + held))
    written = []
    for kind, (split, names) in asked.items():
        images = sorted(
            os.listdir(osp.join(data_root, 'concepts', 'images', split)))
        for name in images[:num_scenes]:
            img_path = osp.join(data_root, 'concepts', 'images', split, name)
            out = osp.join(out_dir,
                           f'{key}_{kind}_{osp.splitext(name)[0]}.png')
            draw(img_path, names, out)
            written.append(out)
    return written


def _load_language_guided(config: str, checkpoint: str):
    """The language-guided detector or segmentor of a config."""
    from mmengine.config import Config
    if Config.fromfile(config).get('default_scope') == 'mmseg':
        from mmvlm.apis import init_language_guided_segmentor
        return init_language_guided_segmentor(config, checkpoint,
                                              device='cpu')
    from mmvlm.apis import init_language_guided_detector
    return init_language_guided_detector(config, checkpoint, device='cpu')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate a many-concept detector or segmentor on seen '
        'and held-out '
        'names (writes <work-dir>/concepts/<key>.json).')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--key', required=True, help='run key (file name)')
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--stock', action='store_true',
                        help='a closed-set model: seen splits only')
    parser.add_argument('--held-out-only', action='store_true',
                        help='zero-shot held-out and chance only')
    parser.add_argument('--styles', nargs='+', default=list(STYLES),
                        choices=STYLES)
    parser.add_argument('--validation', action='store_true',
                        help='only the validation-held-out names (for '
                        'choices; never the test names)')
    parser.add_argument('--per-name', action='store_true',
                        help='add each held-out name\'s nearest seen name')
    return parser.parse_args(argv)


def result_path(work_dir: str, key: str) -> str:
    """Where :func:`main` writes the results of run ``key``."""
    return osp.join(work_dir, 'concepts', f'{key}.json')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    out_file = result_path(args.work_dir, args.key +
                           ('_validation' if args.validation else ''))
    os.makedirs(osp.dirname(out_file), exist_ok=True)
    if args.stock:
        result = dict(
            stock=True,
            styles=evaluate_stock(args.config, args.checkpoint,
                                  args.data_root,
                                  osp.join(args.work_dir, args.key,
                                           'concept_eval'), args.styles))
    else:
        model = _load_language_guided(args.config, args.checkpoint)
        if args.validation:
            result = dict(
                stock=False,
                styles=dict(
                    emojione=evaluate_validation(model, args.data_root)))
        else:
            result = dict(
                stock=False,
                styles=evaluate_language_guided(model, args.data_root,
                                                args.styles,
                                                args.held_out_only))
        if args.per_name:
            result['nearest_seen'] = nearest_seen(
                concept_names.TEST_HELD_OUT)
            result['pictures'] = draw_pictures(
                model, args.data_root,
                osp.join(args.work_dir, 'concepts', 'pictures'), args.key)
    result.update(key=args.key, config=args.config,
                  checkpoint=args.checkpoint)
    tmp = out_file + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out_file)
    for style, res in result['styles'].items():
        brief = {k: v for k, v in res.items() if not isinstance(v, dict)}
        print(f'[concept_eval] {args.key} {style}: {brief}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
