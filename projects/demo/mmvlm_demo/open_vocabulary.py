"""Open-vocabulary probes of the trained demo models, measured.

Run by ``projects/demo/run_demo.sh`` after training (inference only). Every
number comes from :func:`mmvlm.apis.evaluate_prompts`: the model's test
dataloader run with exactly the prompts asked (checked after every batch)
and each prompt scored by the config's stock metric (``CocoMetric`` AP50,
``IoUMetric`` IoU) on the class it is mapped to. For each language-guided
model of :data:`.demo_models.DEMO_MODELS`:

- **seen / held-out names** (:mod:`.vocabulary_splits`): brain: all 15
  names at once on the label maps that annotate every region
  (``ann_dir_all``); trees: ``dead tree`` / ``living tree`` together on
  the test crowns annotated Dead / Alive (a COCO file written here from
  their ``source_label``; unlabelled crowns are ignored regions);
- **chance**: each held-out class asked for with another held-out name
  (same model and images; the words carry no information);
- **paraphrases** of the seen names (:mod:`.probes`, never trained on):
  the metric of each seen class under its paraphrase, as a fraction of its
  metric under its own name;
- **specificity**: one seen class asked for with unrelated words ("car",
  "bacterium", ...) and with a near paraphrase; detection: each prompt
  alone (what a user of a one-class model types), at the config's
  ``score_thr`` and at an operating point (:func:`operating_point`: AP
  ranks boxes and ignores how high they score), with each prompt's mean
  top box score; segmentation: the prompt in place of the class's name
  among the other names.

It also writes prediction PNGs labelled with their prompts and one
similarity heat-map per held-out prompt (segmentation: pixel-text cosine
similarity; detection: the best classification score of each location for
the prompt over anchors and levels; ``save_prompt_heatmaps``)
into ``<work-dir>/open_vocab/``, each model's numbers into
``open_vocab/models/<key>.json`` and all of them into ``open_vocab.json``.

Usage (from the repository root)::

    python -m projects.demo.mmvlm_demo.open_vocabulary \\
        --work-dir work_dirs/demo --data-root data/demo

(The run script probes each model in its training slot, ``--models KEY
--jobs 1 --no-merge``, then merges once with ``--merge-only``.)
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import traceback
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import probes
from .demo_models import CONTROL_MODELS, DEMO_MODELS, find_checkpoint
from .vocabulary_splits import (CLASSES, HELD_OUT, HELD_OUT_SOURCE_LABELS,
                                SEEN, UNRELATED)

#: Boxes below this score are not drawn (unless fewer than
#: DET_DRAW_MIN_BOXES are above it: then down to DET_DRAW_MIN_SCORE).
DET_DRAW_SCORE_THR = 0.3
DET_DRAW_MIN_SCORE = 0.1
DET_DRAW_MIN_BOXES = 15
#: Metric each task reports per prompt (percent).
METRIC = {'trees': 'AP50', 'brain': 'IoU'}
#: The seen crowns' name in the trees data.
TREES_CLASS = CLASSES['trees'][0]


def run_config(run_dir: str, entry: dict) -> str:
    """The config the run trained with (mmengine's dump in the run dir:
    the entry's file name, else the one ``*.py`` there), else the
    repository config of the entry."""
    dumped = osp.join(run_dir, osp.basename(entry['config']))
    if osp.isfile(dumped):
        return dumped
    found = [f for f in os.listdir(run_dir) if f.endswith('.py')]
    return osp.join(run_dir, found[0]) if len(found) == 1 else entry[
        'config']


def brain_all_names_options(data_root: str) -> dict:
    """Test split with every region labelled (``ann_dir_all``).

    Args:
        data_root (str): Demo data root.

    Returns:
        dict: ``cfg_options`` for :func:`mmvlm.apis.evaluate_prompts`.
    """
    classes = CLASSES['brain']
    return {
        'test_dataloader.dataset.data_root': osp.join(data_root, 'brain'),
        'test_dataloader.dataset.data_prefix': dict(
            img_path='img_dir/test', seg_map_path='ann_dir_all/test'),
        'test_dataloader.dataset.metainfo': dict(
            classes=classes, palette=[(0, 0, 0)] * len(classes)),
    }


def trees_options(data_root: str, ann_file: Optional[str] = None) -> dict:
    """The trees test split (or another COCO file of the same images).

    Args:
        data_root (str): Demo data root.
        ann_file (str, optional): COCO file; default the test split.

    Returns:
        dict: ``cfg_options`` for :func:`mmvlm.apis.evaluate_prompts`.
    """
    root = osp.join(data_root, 'trees')
    ann = ann_file or osp.join(root, 'annotations', 'test.json')
    with open(ann) as f:
        classes = tuple(c['name'] for c in json.load(f)['categories'])
    return {
        'test_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.ann_file': osp.abspath(ann),
        'test_dataloader.dataset.data_prefix': dict(img='images/'),
        'test_dataloader.dataset.metainfo': dict(classes=classes),
        'test_evaluator.ann_file': osp.abspath(ann),
    }


def write_trees_held_out_coco(data_root: str, out_file: str) -> str:
    """COCO file of the test crowns annotated Dead / Alive, by held-out name.

    Images: the test tiles with such crowns. Categories: the held-out
    names. Crowns of these tiles without a Dead / Alive label become crowd
    (ignored) regions of every category.

    Args:
        data_root (str): Demo data root.
        out_file (str): JSON to write.

    Returns:
        str: ``out_file``.
    """
    with open(osp.join(data_root, 'trees', 'annotations', 'test.json')) as f:
        coco = json.load(f)
    names = HELD_OUT['trees']
    cat_of = {HELD_OUT_SOURCE_LABELS['trees'][n]: i + 1
              for i, n in enumerate(names)}
    image_ids = {a['image_id'] for a in coco['annotations']
                 if a.get('source_label') in cat_of}
    if not image_ids:
        raise FileNotFoundError(
            f'No test crown of {data_root}/trees is labelled '
            f'{sorted(cat_of)}: prepare the data again (python -m '
            'projects.demo.mmvlm_demo.prepare_data).')
    anns = []
    for a in coco['annotations']:
        if a['image_id'] not in image_ids:
            continue
        cats = ([cat_of[a['source_label']]] if a.get('source_label')
                in cat_of else list(cat_of.values()))
        for cat in cats:
            anns.append(dict(a, id=len(anns) + 1, category_id=cat,
                             iscrowd=int(a.get('source_label') not in
                                         cat_of)))
    out = dict(images=[i for i in coco['images'] if i['id'] in image_ids],
               annotations=anns,
               categories=[dict(id=i + 1, name=n)
                           for i, n in enumerate(names)])
    with open(out_file, 'w') as f:
        json.dump(out, f)
    return out_file


def _by_prompt(rows: Sequence[dict], key: str) -> Dict[str, float]:
    return {r['prompt']: round(float(r[key]), 2) for r in rows}


def _by_class(rows: Sequence[dict], key: str) -> Dict[str, float]:
    return {r['class']: round(float(r[key]), 2) for r in rows}


def _fraction(part: Sequence[float], whole: Sequence[float]
              ) -> Optional[float]:
    total = float(np.sum(whole))
    return None if total <= 0 else round(float(np.sum(part)) / total, 3)


def probe_detector(model, data_root: str, out_dir: str,
                   max_images: Optional[int] = None) -> dict:
    """The probes of a language-guided tree-crown detector.

    Args:
        model (nn.Module): From ``init_language_guided_detector``.
        data_root (str): Demo data root.
        out_dir (str): Folder for the held-out COCO file.
        max_images (int, optional): Test tiles used by the seen probes.

    Returns:
        dict: See :func:`probe_model`.
    """
    from mmvlm.apis import evaluate_prompts
    task, key = 'trees', METRIC['trees']
    cls = TREES_CLASS
    prompts = probes.specificity_prompts(task) + [
        p for k in range(probes.NUM_PARAPHRASE_SETS)
        for p in probes.paraphrase_prompts(task, k)
        if p not in probes.specificity_prompts(task)
    ]
    seen_rows = evaluate_prompts(
        model, prompts, mode='each', cfg_options=trees_options(data_root),
        max_images=max_images)
    scores = _by_prompt(seen_rows, key)
    held_rows, note = [], None
    try:
        held_file = write_trees_held_out_coco(
            data_root, osp.join(out_dir, 'trees_held_out.json'))
    except FileNotFoundError as err:  # data without Dead / Alive labels
        held_file, note = None, str(err)
    if held_file is not None:
        held_rows = evaluate_prompts(
            model, list(HELD_OUT[task]) + probes.chance_prompts(task) +
            [f'{cls}={n}' for n in HELD_OUT[task]],
            mode='together', cfg_options=trees_options(data_root, held_file))
    named = [r for r in held_rows if r['prompt'] == r['class']]
    chance = [r for r in held_rows if r['prompt'] in HELD_OUT[task]
              and r['prompt'] != r['class']]
    seen_name = [r for r in held_rows if r['prompt'] == cls]
    result = dict(
        seen={cls: scores[cls]},
        held_out=_by_class(named, key),
        chance=_by_class(chance, key),
        held_out_with_seen_name=_by_class(seen_name, key),
        held_out_predicted={r['class']: int(r['predicted'])
                            for r in named},
        held_out_mode='together',
        seen_mode='each')
    if note:
        result['note'] = note
    result.update(_paraphrase_and_specificity(task, {cls: scores[cls]},
                                              scores))
    result['specificity_predicted'] = {
        r['prompt']: int(r['predicted']) for r in seen_rows}
    result['specificity_top_score'] = {
        r['prompt']: r.get('top_score') for r in seen_rows}
    operating, op_rows = operating_point(
        model, task, scores[cls], trees_options(data_root), max_images)
    result.update(operating)
    result['rows'] = dict(seen=seen_rows, held_out=held_rows,
                          operating=op_rows)
    return result


def operating_point(model, task: str, right: float, cfg_options: dict,
                    max_images: Optional[int] = None):
    """Detection specificity at an operating point.

    The operating point is the highest score threshold of
    :data:`.probes.OPERATING_SCORE_GRID` at which the right name keeps
    :data:`.probes.OPERATING_KEEP` of its AP50 (at the config's
    ``score_thr``). It is chosen from the right name alone; the unrelated
    words and the paraphrase are then scored at it.

    Args:
        model (nn.Module): A language-guided detector.
        task (str): ``'trees'``.
        right (float): AP50 of the right name at the config's threshold.
        cfg_options (dict): Test split overrides.
        max_images (int, optional): Test tiles used.

    Returns:
        tuple[dict, list[dict]]: ``operating_score_thr`` (None when no
        threshold of the grid keeps enough of the right name),
        ``operating_right``, ``operating_specificity`` (prompt -> AP50),
        ``operating_predicted`` (prompt -> boxes), and the fractions
        ``operating_unrelated_fraction`` / ``operating_near_fraction``;
        and the rows of every threshold tried.
    """
    from mmvlm.apis import evaluate_prompts
    key = METRIC[task]
    cls = probes.SPECIFICITY_CLASS[task]
    prompts = probes.specificity_prompts(task)
    chosen, all_rows = None, []
    for thr in probes.OPERATING_SCORE_GRID:
        rows = evaluate_prompts(model, prompts, mode='each',
                                cfg_options=cfg_options,
                                max_images=max_images, score_thr=thr)
        all_rows += rows
        at = _by_prompt(rows, key)
        if right <= 0 or at[cls] < probes.OPERATING_KEEP * right:
            break
        chosen = (thr, at, {r['prompt']: int(r['predicted']) for r in rows})
    if chosen is None:
        return dict(operating_score_thr=None), all_rows
    thr, at, predicted = chosen
    unrelated, near = specificity_fractions(task, at)
    return dict(
        operating_score_thr=thr,
        operating_right=at[cls],
        operating_specificity={p: v for p, v in at.items() if p != cls},
        operating_predicted=predicted,
        operating_unrelated_fraction=unrelated,
        operating_near_fraction=near), all_rows


def probe_segmentor(model, data_root: str,
                    max_images: Optional[int] = None) -> dict:
    """The probes of a language-guided brain-region segmentor.

    Args:
        model (nn.Module): From ``init_language_guided_segmentor``.
        data_root (str): Demo data root.
        max_images (int, optional): Test slices used.

    Returns:
        dict: See :func:`probe_model`.
    """
    from mmvlm.apis import evaluate_prompts
    task, key = 'brain', METRIC['brain']
    opts = brain_all_names_options(data_root)
    names_rows = evaluate_prompts(
        model, list(CLASSES[task]) + probes.chance_prompts(task),
        mode='together', cfg_options=opts, max_images=max_images)
    named = [r for r in names_rows if r['prompt'] == r['class']]
    by_class = _by_class(named, key)
    chance = [r for r in names_rows if r['prompt'] != r['class']]
    para_scores, para_rows = {}, []
    for k in range(probes.NUM_PARAPHRASE_SETS):
        rows = evaluate_prompts(
            model, probes.paraphrase_prompts(task, k) + list(HELD_OUT[task]),
            mode='together', cfg_options=opts, max_images=max_images)
        para_rows += rows
        para_scores.update(_by_prompt(rows, key))
    cls = probes.SPECIFICITY_CLASS[task]
    spec_rows = evaluate_prompts(
        model, probes.specificity_prompts(task)[1:], mode='replace',
        cfg_options=opts, max_images=max_images)
    para_scores.update(_by_prompt(spec_rows, key))
    para_scores[cls] = by_class[cls]
    result = dict(
        seen={n: by_class[n] for n in probes.seen_regions(task)},
        held_out={n: by_class[n] for n in HELD_OUT[task]},
        held_out_predicted={r['class']: int(r['predicted'])
                            for r in named if r['class'] in HELD_OUT[task]},
        chance=_by_class(chance, key),
        held_out_mode='together (all 15 names)',
        seen_mode='together (all 15 names)')
    result.update(_paraphrase_and_specificity(
        task, {n: by_class[n] for n in probes.seen_regions(task)},
        para_scores))
    result['specificity_predicted'] = dict(
        {r['prompt']: int(r['predicted']) for r in spec_rows},
        **{cls: int(next(r['predicted'] for r in named
                         if r['class'] == cls))})
    result['rows'] = dict(names=names_rows, paraphrases=para_rows,
                          specificity=spec_rows)
    return result


def _paraphrase_and_specificity(task: str, original: Dict[str, float],
                                scores: Dict[str, float]) -> dict:
    """Paraphrase fractions and specificity from per-prompt scores.

    Args:
        task (str): ``'trees'`` or ``'brain'``.
        original (dict): Seen name -> metric under its own name.
        scores (dict): Prompt -> metric (paraphrases, unrelated words,
            the specificity class's own name).

    Returns:
        dict: ``paraphrases`` (set -> {paraphrase: metric}),
        ``paraphrase_fraction`` (sum of paraphrase metrics over the sum of
        the names' metrics, over both sets), ``specificity`` (prompt ->
        metric), ``right``, ``unrelated_fraction`` (best unrelated word
        over the right name), ``near_fraction``.
    """
    sets, part, whole = {}, [], []
    for k in range(probes.NUM_PARAPHRASE_SETS):
        sets[k] = {}
        for name, value in original.items():
            alt = probes.paraphrase(task, name, k)
            if alt is None or alt not in scores:
                continue
            sets[k][f'{alt} ({name})'] = scores[alt]
            part.append(scores[alt])
            whole.append(value)
    cls = probes.SPECIFICITY_CLASS[task]
    near = probes.paraphrase(task, cls, 0)
    unrelated_fraction, near_fraction = specificity_fractions(task, scores)
    return dict(
        paraphrases=sets,
        paraphrase_fraction=_fraction(part, whole),
        specificity_class=cls,
        right=scores[cls],
        specificity=dict({u: scores[u] for u in UNRELATED[task]},
                         **({near: scores[near]} if near else {})),
        unrelated_fraction=unrelated_fraction,
        near_fraction=near_fraction)


def specificity_fractions(task: str, scores: Dict[str, float]):
    """The best unrelated word and the near paraphrase as fractions of the
    specificity class's own name.

    Args:
        task (str): ``'trees'`` or ``'brain'``.
        scores (dict): Prompt -> metric, with the class's name, every
            unrelated word and (when it has one) its first paraphrase.

    Returns:
        tuple[float | None, float | None]: ``(unrelated, near)``; None
        where the right name scores 0 or there is no paraphrase.
    """
    cls = probes.SPECIFICITY_CLASS[task]
    right = scores[cls]
    near = probes.paraphrase(task, cls, 0)
    unrelated = _fraction([max(scores[u] for u in UNRELATED[task])],
                          [right])
    return unrelated, (_fraction([scores[near]], [right]) if near else None)


def draw_score_threshold(scores) -> float:
    """Score threshold for a readable picture: :data:`DET_DRAW_SCORE_THR`,
    lowered (not below :data:`DET_DRAW_MIN_SCORE`) until
    :data:`DET_DRAW_MIN_BOXES` boxes are drawn.

    Args:
        scores (Tensor | np.ndarray): ``[N]`` box scores.

    Returns:
        float: The threshold (the picture's title states it).
    """
    ranked = np.sort(np.asarray(scores, dtype=np.float32))[::-1]
    if len(ranked) < DET_DRAW_MIN_BOXES:
        return DET_DRAW_MIN_SCORE
    kth = float(ranked[DET_DRAW_MIN_BOXES - 1])
    return round(max(DET_DRAW_MIN_SCORE, min(DET_DRAW_SCORE_THR, kth)), 2)


def heatmaps_and_pictures(model, task: str, data_root: str,
                          out_dir: str, prefix: str) -> List[str]:
    """One similarity heat-map per held-out prompt and one labelled
    prediction picture, on the test image that shows the held-out classes.

    Args:
        model (nn.Module): The language-guided model.
        task (str): ``'trees'`` or ``'brain'``.
        data_root (str): Demo data root.
        out_dir (str): Folder for the PNGs.
        prefix (str): File-name prefix (the run's key).

    Returns:
        list[str]: The PNGs written.
    """
    from PIL import Image

    from mmvlm.apis.prompt_maps import save_prompt_heatmaps
    written = []
    if task == 'brain':
        from mmvlm.apis import draw_segmentation, segment
        names = list(CLASSES[task])
        ann_dir = osp.join(data_root, 'brain', 'ann_dir_all', 'test')
        for name in HELD_OUT[task]:
            cid = names.index(name)
            files = sorted(os.listdir(ann_dir))
            counts = [(np.asarray(Image.open(osp.join(ann_dir, f))) == cid
                       ).sum() for f in files]
            best = files[int(np.argmax(counts))]
            img_path = osp.join(data_root, 'brain', 'img_dir', 'test', best)
            # the map of the held-out name among all the names (cosine)
            written += save_prompt_heatmaps(model, img_path, names, out_dir,
                                            prefix, value_range=(-1.0, 1.0),
                                            draw=[name])
        prediction, labels = segment(model, img_path, names)
        out = osp.join(out_dir, f'{prefix}_all_names_'
                       f'{osp.splitext(best)[0]}.png')
        draw_segmentation(img_path, prediction, labels, out)
        return written + [out]
    from mmvlm.apis import detect, draw_detections
    try:
        held_file = write_trees_held_out_coco(
            data_root, osp.join(out_dir, 'trees_held_out.json'))
    except FileNotFoundError:
        return written
    with open(held_file) as f:
        tile = json.load(f)['images'][0]['file_name']
    img_path = osp.join(data_root, 'trees', 'images', tile)
    prompts = list(HELD_OUT[task])
    prediction, labels = detect(model, img_path, prompts)
    pred = prediction.pred_instances
    # best classification score of each location for each prompt (over
    # anchors and FPN levels), before any box is kept
    written += save_prompt_heatmaps(model, img_path, prompts, out_dir, prefix,
                                    value_range=(0.0, 1.0))
    out = osp.join(out_dir, f'{prefix}_{osp.splitext(tile)[0]}_'
                   f'{"_vs_".join(p.replace(" ", "-") for p in prompts)}'
                   '.png')
    draw_detections(img_path, prediction, labels, out,
                    draw_score_threshold(pred.scores))
    return written + [out]


def probe_model(entry: dict, work_dir: str, data_root: str, out_dir: str,
                max_images: Optional[int] = None,
                pictures: bool = True) -> dict:
    """Every probe of one trained language-guided demo model.

    Args:
        entry (dict): A :data:`DEMO_MODELS` entry (not ``stock``).
        work_dir (str): Demo work directory.
        data_root (str): Demo data root.
        out_dir (str): Folder for PNGs and files.
        max_images (int, optional): Test images of the seen probes.
        pictures (bool): Also write heat-maps and a prediction picture.

    Returns:
        dict: ``metric``, ``seen`` / ``held_out`` / ``chance`` (name ->
        metric), ``paraphrases``, ``paraphrase_fraction``,
        ``specificity``, ``right``, ``unrelated_fraction``,
        ``near_fraction``, ``specificity_predicted`` (boxes / pixels each
        specificity prompt labelled), ``images``, ``seconds`` and the raw
        ``rows`` of :func:`mmvlm.apis.evaluate_prompts` (prompts and
        vocabularies really scored).
    """
    from mmvlm.apis import (init_language_guided_detector,
                            init_language_guided_segmentor)
    start = time.time()
    run_dir = osp.join(work_dir, entry['key'])
    config = run_config(run_dir, entry)
    ckpt = find_checkpoint(run_dir)
    task = entry['task']
    if task == 'trees':
        model = init_language_guided_detector(config, ckpt)
        result = probe_detector(model, data_root, out_dir, max_images)
    else:
        model = init_language_guided_segmentor(config, ckpt)
        result = probe_segmentor(model, data_root, max_images)
    result['images'] = heatmaps_and_pictures(
        model, task, data_root, out_dir, entry['key']) if pictures else []
    result.update(key=entry['key'], kind=entry['kind'], task=task,
                  language_model=entry['language_model'],
                  metric=METRIC[task],
                  seconds=round(time.time() - start, 1))
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Open-vocabulary probes of the trained demo models.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument(
        '--max-images', type=int, default=None,
        help='test images per probe (default: the whole test split)')
    parser.add_argument(
        '--models', nargs='+', default=None,
        help='run keys to probe (default: every trained language-guided '
        'model of demo_models.DEMO_MODELS)')
    parser.add_argument(
        '--jobs', type=int,
        default=int(os.environ.get('MMVLM_DEMO_JOBS', '2')),
        help='models probed at the same time, one process each (default: '
        '$MMVLM_DEMO_JOBS, else 2, as the run script trains)')
    parser.add_argument(
        '--no-merge', action='store_true',
        help='only write the probed models\' parts '
        '(<work-dir>/open_vocab/models/<key>.json), not open_vocab.json: '
        'the run script probes each model right after its training, two '
        'at a time, then merges once')
    parser.add_argument(
        '--merge-only', action='store_true',
        help='probe nothing: write open_vocab.json from the parts')
    return parser.parse_args(argv)


def _probe_job(entry: dict, args: argparse.Namespace, out_dir: str):
    """One model's probes (in a worker process): ``(result, None)`` or
    ``(None, error)``; the traceback is printed, never hidden."""
    try:
        return probe_model(entry, args.work_dir, args.data_root, out_dir,
                           args.max_images), None
    except Exception as err:  # noqa: BLE001  (reported, not hidden)
        traceback.print_exc()
        return None, f'{type(err).__name__}: {err}'


#: The runs probed here: the language-guided tree and brain models (the
#: many-concept detectors have their own evaluation, :mod:`.concept_eval`).
PROBED_MODELS = [
    m for m in DEMO_MODELS + CONTROL_MODELS
    if m['task'] in ('trees', 'brain') and m['kind'] != 'stock'
]


def part_path(work_dir: str, key: str) -> str:
    """Where one model's probe result (or failure) is written."""
    return osp.join(work_dir, 'open_vocab', 'models', f'{key}.json')


def merge_parts(work_dir: str) -> dict:
    """``open_vocab.json`` from the parts of :data:`PROBED_MODELS`.

    A language-guided model without a part is ``skipped`` (``not
    trained`` when it has no checkpoint pointer, else ``not probed``); a
    part holding an error goes to ``failed``.

    Args:
        work_dir (str): Demo work directory.

    Returns:
        dict: What was written: ``models``, ``skipped``, ``failed``,
        ``seen_names``, ``held_out_names``.
    """
    results, skipped, failed = {}, {}, {}
    for entry in PROBED_MODELS:
        key = entry['key']
        path = part_path(work_dir, key)
        if not osp.isfile(path):
            trained = osp.isfile(osp.join(work_dir, key, 'last_checkpoint'))
            skipped[key] = 'not probed' if trained else 'not trained'
            continue
        with open(path) as f:
            part = json.load(f)
        if part.get('error') is not None:
            failed[key] = part['error']
        else:
            results[key] = part['result']
    merged = dict(models=results, skipped=skipped, failed=failed,
                  seen_names=SEEN, held_out_names=HELD_OUT)
    with open(osp.join(work_dir, 'open_vocab', 'open_vocab.json'), 'w') as f:
        json.dump(merged, f, indent=1)
    return merged


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    out_dir = osp.join(args.work_dir, 'open_vocab')
    os.makedirs(osp.join(out_dir, 'models'), exist_ok=True)
    todo = []
    for entry in PROBED_MODELS:
        if args.merge_only:
            break
        if args.models and entry['key'] not in args.models:
            continue
        if not osp.isfile(osp.join(args.work_dir, entry['key'],
                                   'last_checkpoint')):
            print(f'[open_vocab] {entry["key"]}: not trained, skipped')
            continue
        todo.append(entry)
    if args.jobs > 1 and len(todo) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.jobs,
                                 mp_context=mp.get_context('spawn')) as pool:
            futures = [(e, pool.submit(_probe_job, e, args, out_dir))
                       for e in todo]
            outcomes = [(e, f.result()) for e, f in futures]
    else:
        outcomes = [(e, _probe_job(e, args, out_dir)) for e in todo]
    for entry, (res, error) in outcomes:
        with open(part_path(args.work_dir, entry['key']), 'w') as f:
            json.dump(dict(result=res, error=error), f, indent=1)
        if error is not None:
            print(f'[open_vocab] ERROR: {entry["key"]}: probes failed: '
                  f'{error}', file=sys.stderr)
            continue
        print(f'[open_vocab] {entry["key"]} ({res["seconds"]} s): '
              f'held-out {res["metric"]} {res["held_out"]}, chance '
              f'{res["chance"]}, paraphrase fraction '
              f'{res["paraphrase_fraction"]}, unrelated/right '
              f'{res["unrelated_fraction"]}')
    if not args.no_merge:
        merge_parts(args.work_dir)
    # failures are in open_vocab.json: the report states them at the top
    # and its command then exits with 1 (the report is written first)
    return 0


if __name__ == '__main__':
    sys.exit(main())
