"""Gather evaluation results of work dirs into one markdown table.

Each work dir is what the stock ``tools/test.py`` (or ``tools/train.py``
with validation) leaves behind: the dumped config ``<name>.py`` and
``<timestamp>/<timestamp>.json`` with the metrics of the run. Detection
(``coco/bbox_mAP`` ...) and segmentation (``mIoU`` ...) results are both
understood; columns that no row has are left out.

Example::

    python tools/analysis_tools/gather_results.py work_dirs/* --out results.md
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

#: (column title, metric keys tried in order, scale to percent)
METRIC_COLUMNS = (
    ('bbox mAP', ('coco/bbox_mAP', 'lvis/bbox_AP', 'bbox_mAP'), True),
    ('AP50', ('coco/bbox_mAP_50', 'lvis/bbox_AP50', 'bbox_mAP_50'), True),
    ('base AP50', ('coco/bbox_AP50_base', ), True),
    ('novel AP50', ('coco/bbox_AP50_novel', ), True),
    ('mIoU', ('mIoU', ), False),
    ('mAcc', ('mAcc', ), False),
    ('aAcc', ('aAcc', ), False),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Markdown table of the eval json files of work dirs.')
    parser.add_argument('work_dirs', nargs='+', help='work directories')
    parser.add_argument('--out', help='write the table to this file')
    return parser.parse_args()


def latest_metrics(work_dir: str) -> Optional[dict]:
    """Metrics of the newest ``<timestamp>/<timestamp>.json`` of a work dir.

    Args:
        work_dir (str): Work directory.

    Returns:
        dict | None: The metrics, None when the dir holds no eval json.
    """
    candidates = []
    for path in glob.glob(osp.join(work_dir, '*', '*.json')):
        stem = osp.splitext(osp.basename(path))[0]
        if stem != osp.basename(osp.dirname(path)):
            continue  # only <timestamp>/<timestamp>.json
        candidates.append(path)
    for path in sorted(candidates, reverse=True):
        with open(path) as f:
            try:
                metrics = json.load(f)
            except json.JSONDecodeError:
                continue
        if any(key in metrics for _, keys, _ in METRIC_COLUMNS
               for key in keys):
            return metrics
    return None


def load_config(work_dir: str):
    """The config dumped into the work dir (None when absent)."""
    from mmengine.config import Config
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if not configs:
        return None, None
    path = configs[0]
    try:
        return Config.fromfile(path), osp.splitext(osp.basename(path))[0]
    except Exception:  # a broken dump must not stop the table
        return None, osp.splitext(osp.basename(path))[0]


def describe_vocabulary(cfg) -> str:
    """Short description of what the model was evaluated on."""
    if cfg is None:
        return '?'
    vocabulary = cfg.model.get('vocabulary')
    if isinstance(vocabulary, dict) and 'dataset' in vocabulary:
        return f'{vocabulary["dataset"]} names'
    if vocabulary:
        return f'{len(vocabulary)} prompts'
    dataset = (cfg.get('test_dataloader') or {}).get('dataset', {})
    classes = dataset.get('metainfo', {}).get('classes')
    if classes:
        return f'{len(classes)} classes'
    if dataset.get('type'):
        return f'{dataset["type"]} classes'
    return '?'


def count_parameters(work_dir: str) -> Optional[int]:
    """Number of values in the state dict of the newest checkpoint."""
    checkpoints = sorted(glob.glob(osp.join(work_dir, '*.pth')),
                         key=osp.getmtime)
    if not checkpoints:
        return None
    import torch
    state = torch.load(checkpoints[-1], map_location='cpu',
                       weights_only=False)
    state = state.get('state_dict', state)
    return int(sum(v.numel() for v in state.values()
                   if hasattr(v, 'numel')))


def images_per_second(cfg, metrics: dict) -> Optional[float]:
    """Test throughput from the logged seconds per batch."""
    seconds = metrics.get('time')
    if not seconds or cfg is None:
        return None
    batch = (cfg.get('test_dataloader') or {}).get('batch_size', 1)
    return batch / seconds


def gather(work_dirs: Sequence[str]) -> List[Dict[str, str]]:
    """One row per work dir holding an eval json."""
    rows = []
    for work_dir in work_dirs:
        metrics = latest_metrics(work_dir)
        if metrics is None:
            continue
        cfg, name = load_config(work_dir)
        row = dict(model=name or osp.basename(osp.normpath(work_dir)),
                   vocabulary=describe_vocabulary(cfg))
        for title, keys, percent in METRIC_COLUMNS:
            for key in keys:
                if key in metrics and metrics[key] is not None:
                    value = float(metrics[key])
                    if percent and value <= 1.0:
                        value *= 100
                    row[title] = f'{value:.1f}'
                    break
        params = count_parameters(work_dir)
        if params is not None:
            row['params'] = f'{params / 1e6:.2f}M'
        speed = images_per_second(cfg, metrics)
        if speed is not None:
            row['images/s'] = f'{speed:.1f}'
        rows.append(row)
    return rows


def to_markdown(rows: List[Dict[str, str]]) -> str:
    """Markdown table; columns absent from every row are dropped."""
    columns = ['model', 'vocabulary'] + [t for t, _, _ in METRIC_COLUMNS] + [
        'params', 'images/s'
    ]
    columns = [c for c in columns if any(c in r for r in rows)]
    lines = ['| ' + ' | '.join(columns) + ' |',
             '|' + '|'.join(['---'] * len(columns)) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(row.get(c, '-') for c in columns) +
                     ' |')
    return '\n'.join(lines) + '\n'


def main() -> None:
    args = parse_args()
    rows = gather(args.work_dirs)
    if not rows:
        raise SystemExit('No evaluation json found in '
                         f'{args.work_dirs}; run tools/test.py with '
                         '--work-dir first.')
    table = to_markdown(rows)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table)
    print(table, end='')


if __name__ == '__main__':
    main()
