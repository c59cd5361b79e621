"""Image-level track of the many-concept world: single-concept crops
classified by name, stock vs language-guided vs "Frozen".

Four models on the frozen ImageNet EfficientNet-Lite0, trained on the 574
seen names only with mmengine's runner from the configs of
``projects/demo/configs/image_level/`` (:data:`CONFIGS`):

- ``stock``: mmpretrain ``ImageClassifier`` + ``LinearClsHead`` (closed
  set over the seen names);
- ``lg``: :class:`LanguageGuidedImageClassifier`, frozen MiniLM;
- ``frozen-emb``: :class:`FrozenPrefixClassifier`, SmolLM2-135M,
  embedding mode;
- ``frozen-gen``: the same in generative mode (log-likelihood of each
  name after the visual prefix, one key/value cache per image) and its
  ``generate()``.

Every test crop is scored against the seen names, the held-out names of
its part and all names; the test-held-out names are only reported, every
choice is made on ``val_seen`` / ``val_held_out``. Writes
``summary.json``, ``results.json`` and ``report.md`` into the work folder.
Run with ``bash projects/demo/run_image_level_demo.sh``.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import concept_names
from .image_level_concept_data import (CLASSES, prepare_concept_crops,
                                       read_split)

CONFIG_DIR = 'projects/demo/configs/image_level'
#: model -> config file in :data:`CONFIG_DIR`.
CONFIGS = {
    'stock': 'stock_efficientnet-lite0_concepts-image.py',
    'lg': 'lg_efficientnet-lite0_minilm_concepts-image.py',
    'frozen-emb': 'frozen-emb_efficientnet-lite0_smollm2_concepts-image.py',
    'frozen-gen': 'frozen-gen_efficientnet-lite0_smollm2_concepts-image.py',
}
NUM_SEEN = len(concept_names.SEEN)
#: name part -> label ids in :data:`CLASSES`.
PART_IDS = {
    'seen':
    list(range(NUM_SEEN)),
    'val_held_out':
    list(range(NUM_SEEN, NUM_SEEN + len(concept_names.VAL_HELD_OUT))),
    'test_held_out':
    list(range(NUM_SEEN + len(concept_names.VAL_HELD_OUT), len(CLASSES))),
}
#: evaluated split -> name part it holds.
EVAL_SPLITS = {
    'val_seen': 'seen',
    'test_seen': 'seen',
    'test_seen_noto': 'seen',
    'val_held_out': 'val_held_out',
    'val_held_out_noto': 'val_held_out',
    'test_held_out': 'test_held_out',
    'test_held_out_noto': 'test_held_out',
}


# ---------------------------------------------------------------- train
def load_config(kind: str,
                work_dir: str,
                iters: Optional[int] = None,
                options: Optional[dict] = None):
    """The mmengine config of one model, with the run's overrides.

    Args:
        kind (str): A key of :data:`CONFIGS`.
        work_dir (str): The model's work folder.
        iters (int, optional): Training iterations (the schedule follows).
        options (dict, optional): ``--cfg-options`` style overrides.

    Returns:
        mmengine.config.Config: The config.
    """
    from mmengine.config import Config
    if kind not in CONFIGS:
        raise ValueError(f'Unknown model {kind!r}; choose from '
                         f'{sorted(CONFIGS)}.')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONFIGS[kind]))
    cfg.work_dir = work_dir
    if iters is not None:
        cfg.train_cfg.max_iters = iters
        if cfg.train_cfg.get('val_interval'):
            cfg.train_cfg.val_interval = iters
        cfg.default_hooks.checkpoint.interval = iters
        for scheduler in cfg.param_scheduler:
            if 'T_max' in scheduler:
                scheduler['T_max'] = iters
    if options:
        cfg.merge_from_dict(options)
    return cfg


def train(cfg) -> Tuple[object, float, float]:
    """Train with mmengine's runner.

    Args:
        cfg (mmengine.config.Config): From :func:`load_config`.

    Returns:
        tuple: The trained model, seconds of ``runner.train()`` and the
        last logged training loss (None when not logged).
    """
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    seconds = time.time() - start
    loss = runner.message_hub.get_scalar('train/loss').current()
    return runner.model, seconds, float(loss)


# ----------------------------------------------------------------- eval
def load_split(data_root: str,
               split: str,
               limit_per_name: Optional[int] = None) -> list:
    """Packed samples (``inputs``, ``data_samples``) of a split.

    Args:
        data_root (str): The crops folder.
        split (str): A split of :data:`EVAL_SPLITS`.
        limit_per_name (int, optional): Keep the first crops of each name.

    Returns:
        list[dict]: Samples as mmpretrain's pipeline packs them.
    """
    from mmpretrain.registry import DATASETS
    rows = read_split(data_root, split)
    keep, count = [], {}
    for index, (_, label) in enumerate(rows):
        count[label] = count.get(label, 0) + 1
        if limit_per_name is None or count[label] <= limit_per_name:
            keep.append(index)
    dataset = DATASETS.build(
        dict(type='CustomDataset',
             data_root=data_root,
             ann_file=f'{split}.txt',
             data_prefix='images',
             metainfo=dict(classes=list(CLASSES)),
             pipeline=[dict(type='LoadImageFromFile'),
                       dict(type='PackInputs')]))
    return [dataset[i] for i in keep]


def split_scores(model, kind: str, samples: list,
                 label_ids: Sequence[int],
                 batch_size: int = 32) -> 'torch.Tensor':  # noqa: F821
    """``[N, K]`` scores of samples against the names ``label_ids``.

    Args:
        model: A trained model of :data:`CONFIGS`.
        kind (str): Its key (``'stock'`` scores only seen names).
        samples (list): From :func:`load_split`.
        label_ids (Sequence[int]): Ids of :data:`CLASSES` to score.
        batch_size (int): Images per forward pass.

    Returns:
        torch.Tensor: Float scores, columns in ``label_ids`` order.
    """
    import torch
    model.eval()
    if kind == 'stock':
        if max(label_ids) >= NUM_SEEN:
            raise ValueError('The stock classifier scores the seen names '
                             'only.')
    else:
        model.set_vocabulary([CLASSES[i] for i in label_ids],
                             label_ids=list(range(len(label_ids))))
    out = []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            items = samples[start:start + batch_size]
            data = model.data_preprocessor(
                dict(inputs=[d['inputs'] for d in items]))
            scores = model(data['inputs'], mode='tensor').float()
            if kind == 'stock':
                scores = scores[:, list(label_ids)]
            out.append(scores)
    if kind != 'stock':
        model.set_vocabulary(None)
    return torch.cat(out)


def labels_of(samples: list) -> 'torch.Tensor':  # noqa: F821
    """``[N]`` label ids of packed samples."""
    import torch
    return torch.tensor([int(s['data_samples'].gt_label) for s in samples])


def topk_accuracy(scores, labels, label_ids: Sequence[int],
                  k: int) -> float:
    """Top-``k`` accuracy (%) when the columns are ``label_ids``."""
    import torch
    ids = torch.tensor(list(label_ids))
    k = min(k, len(ids))
    top = ids[scores.topk(k, dim=1).indices]
    return float((top == labels[:, None]).any(1).float().mean() * 100)


def evaluate_model(model,
                   kind: str,
                   data_root: str,
                   splits: Sequence[str],
                   limit_per_name: Optional[int] = None) -> Dict:
    """Top-1 / top-5 of every split among its part's names and (except
    stock) among all names.

    Args:
        model: Trained model.
        kind (str): Its key.
        data_root (str): The crops folder.
        splits (Sequence[str]): Splits of :data:`EVAL_SPLITS`.
        limit_per_name (int, optional): Crops per name (cost bound).

    Returns:
        dict: ``<split>_top1`` / ``_top5`` (own part), ``<split>_all_top1``
        / ``_all_top5`` (all names), ``<split>_images`` and seconds.
    """
    out = {}
    every = list(range(len(CLASSES)))
    for split in splits:
        part = EVAL_SPLITS[split]
        if kind == 'stock' and part != 'seen':
            continue
        start = time.time()
        samples = load_split(data_root, split, limit_per_name)
        labels = labels_of(samples)
        ids = PART_IDS[part]
        if kind == 'stock' or part != 'seen':
            scores = split_scores(model, kind, samples, ids)
            out[f'{split}_top1'] = topk_accuracy(scores, labels, ids, 1)
            out[f'{split}_top5'] = topk_accuracy(scores, labels, ids, 5)
        if kind != 'stock':
            scores = split_scores(model, kind, samples, every)
            if part == 'seen':
                seen = scores[:, :NUM_SEEN]
                out[f'{split}_top1'] = topk_accuracy(seen, labels, ids, 1)
                out[f'{split}_top5'] = topk_accuracy(seen, labels, ids, 5)
            out[f'{split}_all_top1'] = topk_accuracy(scores, labels, every, 1)
            out[f'{split}_all_top5'] = topk_accuracy(scores, labels, every, 5)
        out[f'{split}_images'] = len(samples)
        out[f'{split}_s'] = time.time() - start
        print(f'[image_level_concepts] {kind} {split}: ' + ', '.join(
            f'{k[len(split) + 1:]}={v:.1f}' for k, v in out.items()
            if k.startswith(split + '_') and k.endswith(('top1', 'top5'))))
    return out


# ------------------------------------------------------------- generate
def name_embeddings(texts: Sequence[str]) -> 'torch.Tensor':  # noqa: F821
    """L2-normalised MiniLM sentence embeddings (mean pooling) of texts."""
    import torch
    import torch.nn.functional as F
    from mmpretrain.registry import MODELS
    encoder = MODELS.build(
        dict(type='HFTextEncoder', name_or_path='minilm', embed_dims=None))
    encoder.eval()
    with torch.no_grad():
        return F.normalize(encoder.encode_vocabulary(list(texts)).float(),
                           dim=-1)


def generate_texts(model, samples: list,
                   max_new_tokens: int = 8) -> List[str]:
    """Greedy ``generate()`` text of every sample."""
    import torch
    texts = []
    with torch.no_grad():
        for start in range(0, len(samples), 16):
            items = samples[start:start + 16]
            data = model.data_preprocessor(
                dict(inputs=[d['inputs'] for d in items]))
            texts += model.generate(data['inputs'],
                                    max_new_tokens=max_new_tokens)
    return texts


def generation_table(texts: Sequence[str], labels: Sequence[int],
                     part: str) -> Tuple[float, List[Dict]]:
    """Exact-match rate of generated texts and each text's nearest name.

    Args:
        texts (Sequence[str]): Generated texts.
        labels (Sequence[int]): True label ids.
        part (str): Name part whose names the nearest name is drawn from
            (all names are searched too).

    Returns:
        tuple: exact match (%), rows ``image name / generated / nearest
        name of all / nearest among the part / whether seen``.
    """
    import torch
    names = list(CLASSES)
    name_vecs = name_embeddings(names)
    text_vecs = name_embeddings([t or '(empty)' for t in texts])
    sims = text_vecs @ name_vecs.t()
    part_ids = torch.tensor(PART_IDS[part])
    rows, exact = [], 0
    for i, (text, label) in enumerate(zip(texts, labels)):
        truth = names[int(label)]
        exact += int(text.strip().lower() == truth)
        nearest = int(sims[i].argmax())
        nearest_part = int(part_ids[sims[i, part_ids].argmax()])
        rows.append(
            dict(name=truth,
                 generated=text,
                 nearest=names[nearest],
                 nearest_in_part=names[nearest_part],
                 generated_is_seen_name=text.strip().lower() in set(
                     concept_names.SEEN)))
    return 100.0 * exact / max(len(texts), 1), rows


# --------------------------------------------------------------- report
def summary_keys(results: Dict[str, Dict]) -> Dict:
    """The flat ``summary.json`` of the run (keys in ``docs/
    image_level.md``)."""

    def get(model, key):
        value = results.get(model, {}).get(key)
        return None if value is None else round(float(value), 2)

    frozen = [
        v for v in (get('frozen-emb', 'test_held_out_top5'),
                    get('frozen-gen', 'test_held_out_top5')) if v is not None
    ]
    held = len(concept_names.TEST_HELD_OUT)
    summary = dict(
        stock_seen_top1=get('stock', 'test_seen_top1'),
        stock_seen_top5=get('stock', 'test_seen_top5'),
        lg_seen_top1=get('lg', 'test_seen_top1'),
        lg_seen_top5=get('lg', 'test_seen_top5'),
        frozen_emb_seen_top1=get('frozen-emb', 'test_seen_top1'),
        frozen_emb_seen_top5=get('frozen-emb', 'test_seen_top5'),
        frozen_gen_seen_top1=get('frozen-gen', 'test_seen_top1'),
        frozen_gen_seen_top5=get('frozen-gen', 'test_seen_top5'),
        lg_held_out_top1=get('lg', 'test_held_out_top1'),
        lg_held_out_top5=get('lg', 'test_held_out_top5'),
        frozen_emb_held_out_top5=get('frozen-emb', 'test_held_out_top5'),
        frozen_gen_held_out_top5=get('frozen-gen', 'test_held_out_top5'),
        frozen_best_held_out_top5=max(frozen) if frozen else None,
        held_out_chance_top1=round(100.0 / held, 2),
        held_out_chance_top5=round(500.0 / held, 2),
        lg_held_out_all_top5=get('lg', 'test_held_out_all_top5'),
        all_names_chance_top5=round(500.0 / len(CLASSES), 2),
        stock_seen_noto_top1=get('stock', 'test_seen_noto_top1'),
        lg_seen_noto_top1=get('lg', 'test_seen_noto_top1'),
        lg_held_out_noto_top5=get('lg', 'test_held_out_noto_top5'),
        generate_seen_exact_pct=get('frozen-gen', 'generate_seen_exact_pct'),
        generate_held_out_exact_pct=get('frozen-gen',
                                        'generate_held_out_exact_pct'),
    )
    for model in results:
        key = model.replace('-', '_')
        summary[f'{key}_train_s'] = get(model, 'train_s')
    return summary


def write_report(path: str, results: Dict[str, Dict], summary: Dict,
                 args) -> None:
    """Markdown report of the run."""
    lines = [
        '# Image level: single-concept crops of the many-concept world', '',
        f'Command: `{args.command}`', '',
        '| model | iters | train s | seen top-1 | seen top-5 | seen Noto '
        'top-1 | held-out top-1 (164 names) | held-out top-5 (164 names) | '
        'held-out top-5 (all 820) | held-out Noto top-5 (164) | '
        'val held-out top-5 (82) |', '| --- |' + ' ---: |' * 10
    ]

    def cell(row, key):
        value = row.get(key)
        return '-' if value is None else f'{value:.1f}'

    for model, row in results.items():
        lines.append(f'| {model} | {row.get("iters", "-")} | '
                     f'{cell(row, "train_s")} | ' + ' | '.join(
                         cell(row, k)
                         for k in ('test_seen_top1', 'test_seen_top5',
                                   'test_seen_noto_top1',
                                   'test_held_out_top1', 'test_held_out_top5',
                                   'test_held_out_all_top5',
                                   'test_held_out_noto_top5',
                                   'val_held_out_top5')) + ' |')
    lines += [
        '', f'Chance: top-5 among the 164 test-held-out names '
        f'{summary["held_out_chance_top5"]:.1f} %, top-1 '
        f'{summary["held_out_chance_top1"]:.2f} %; top-5 among all 820 '
        f'names {summary["all_names_chance_top5"]:.2f} %.'
    ]
    gen = results.get('frozen-gen', {})
    if gen.get('generated'):
        lines += [
            '', f'`generate()` (greedy, 8 tokens): exact seen name for '
            f'{gen.get("generate_seen_exact_pct", 0):.1f} % of '
            f'{gen.get("generate_seen_images")} seen test crops; exact '
            'held-out name for '
            f'{gen.get("generate_held_out_exact_pct", 0):.1f} % of '
            f'{gen.get("generate_held_out_images")} held-out crops.',
            '', '| held-out image | generate() wrote | nearest name (all, '
            'MiniLM) | nearest held-out name | wrote a seen name |',
            '| --- | --- | --- | --- | --- |'
        ]
        for row in gen['generated'][:20]:
            lines.append(f'| {row["name"]} | {row["generated"]} | '
                         f'{row["nearest"]} | {row["nearest_in_part"]} | '
                         f'{"yes" if row["generated_is_seen_name"] else "no"}'
                         ' |')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def run_model(kind: str, args) -> Dict:
    """Train, evaluate (and for ``frozen-gen`` generate) one model."""
    import torch
    torch.manual_seed(0)
    iters = args.iters.get(kind)
    cfg = load_config(kind, osp.join(args.work_dir, kind), iters,
                      args.options)
    print(f'[image_level_concepts] training {kind} '
          f'({cfg.train_cfg.max_iters} iterations)')
    model, train_s, loss = train(cfg)
    row = dict(iters=cfg.train_cfg.max_iters, train_s=train_s, loss=loss)
    if kind != 'frozen-gen':
        splits = args.splits or list(EVAL_SPLITS)
        row.update(evaluate_model(model, kind, args.data_root, splits))
        return row
    # The generative scorer runs the LM over every name's tokens for every
    # image (~0.3 GFLOP per token: 574 names ~ 800 GFLOP per image), so it
    # scores a sample of crops; generate() is cheap and runs on more.
    row.update(
        evaluate_gen_sample(model, args.data_root, 'test_seen',
                            args.gen_score_images))
    row.update(
        evaluate_gen_sample(model, args.data_root, 'test_held_out',
                            args.gen_score_images))
    samples = sample_crops(args.data_root, 'test_seen',
                           args.gen_seen_images)
    texts = generate_texts(model, samples)
    exact, rows = generation_table(texts, labels_of(samples).tolist(),
                                   'seen')
    row.update(generate_seen_exact_pct=exact,
               generate_seen_images=len(samples),
               generate_seen_examples=rows[:20])
    samples = sample_crops(args.data_root, 'test_held_out',
                           args.gen_held_out_images)
    texts = generate_texts(model, samples)
    exact, rows = generation_table(texts, labels_of(samples).tolist(),
                                   'test_held_out')
    row.update(generate_held_out_exact_pct=exact,
               generate_held_out_images=len(samples),
               generated=rows)
    return row


def sample_crops(data_root: str, split: str, count: int) -> list:
    """The first crop of ``count`` names spread evenly over a split."""
    samples = load_split(data_root, split, 1)
    step = max(1, len(samples) // max(count, 1))
    return samples[::step][:count]


def evaluate_gen_sample(model, data_root: str, split: str,
                        count: int) -> Dict:
    """Generative top-1 / top-5 of ``count`` crops of a split among all
    names of its part (one crop each of names spread over the part)."""
    samples = sample_crops(data_root, split, count)
    labels = labels_of(samples)
    ids = PART_IDS[EVAL_SPLITS[split]]
    start = time.time()
    scores = split_scores(model, 'frozen-gen', samples, ids)
    return {
        f'{split}_top1': topk_accuracy(scores, labels, ids, 1),
        f'{split}_top5': topk_accuracy(scores, labels, ids, 5),
        f'{split}_images': len(samples),
        f'{split}_s': time.time() - start
    }


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--cache-dir', default='data/demo/.cache')
    parser.add_argument('--work-dir', default='work_dirs/image_level')
    parser.add_argument('--models',
                        nargs='+',
                        default=list(CONFIGS),
                        choices=list(CONFIGS))
    parser.add_argument('--iters',
                        nargs='*',
                        default=[],
                        help='model=iterations overrides, e.g. lg=300')
    parser.add_argument('--gen-score-images',
                        type=int,
                        default=10,
                        help='crops the generative scorer ranks all names '
                        'of their part for, per split')
    parser.add_argument('--gen-seen-images', type=int, default=96)
    parser.add_argument('--gen-held-out-images', type=int, default=164)
    parser.add_argument('--splits',
                        nargs='*',
                        default=None,
                        choices=list(EVAL_SPLITS),
                        help='evaluate only these splits (choices on the '
                        'validation splits)')
    parser.add_argument('--options',
                        type=json.loads,
                        default=None,
                        help='JSON dict merged into every model config '
                        '(mmengine merge_from_dict keys)')
    parser.add_argument('--prepare-only',
                        action='store_true',
                        help='build the crops and stop')
    args = parser.parse_args(argv)
    try:
        args.iters = {
            k: int(v)
            for k, v in (item.split('=') for item in args.iters)
        }
    except ValueError as e:
        raise SystemExit(f'--iters takes model=iterations, got '
                         f'{args.iters}: {e}')
    args.command = os.environ.get('MMVLM_DEMO_COMMAND',
                                  'python -m mmvlm_demo.image_level_concepts')
    import mmvlm  # noqa: F401  registers the models into mmpretrain
    start = time.time()
    args.data_root = prepare_concept_crops(args.data_root, args.cache_dir)
    print(f'[image_level_concepts] crops in {args.data_root} '
          f'({time.time() - start:.0f} s)')
    if args.prepare_only:
        return
    os.makedirs(args.work_dir, exist_ok=True)
    results_path = osp.join(args.work_dir, 'results.json')
    for kind in args.models:
        row = run_model(kind, args)
        with open(osp.join(args.work_dir, kind, 'row.json'), 'w') as f:
            json.dump(row, f, indent=1)
        # every model's last row in the work folder (models may run in
        # separate processes)
        results: Dict[str, Dict] = {}
        for name in CONFIGS:
            path = osp.join(args.work_dir, name, 'row.json')
            if osp.isfile(path):
                with open(path) as f:
                    results[name] = json.load(f)
        summary = summary_keys(results)
        summary['total_s'] = round(time.time() - start)
        with open(results_path, 'w') as f:
            json.dump(results, f, indent=1)
        with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        write_report(osp.join(args.work_dir, 'report.md'), results,
                     summary, args)
    print(f'[image_level_concepts] {time.time() - start:.0f} s; report: '
          f'{args.work_dir}/report.md')


if __name__ == '__main__':
    np.set_printoptions(precision=3)
    main()
