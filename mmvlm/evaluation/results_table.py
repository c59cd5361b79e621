"""One markdown table of the evaluation results of work dirs.

Each work dir is what the stock ``tools/test.py`` (or ``tools/train.py``
with validation) leaves behind: the dumped config ``<name>.py`` and
``<timestamp>/<timestamp>.json`` with the metrics of the run. Detection
(``coco/bbox_mAP`` ...) and segmentation (``mIoU`` ...) results are both
understood; columns that no row has are left out.

The command line is ``tools/analysis_tools/gather_results.py``.
"""
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


def gather_results(work_dirs: Sequence[str]) -> List[Dict[str, str]]:
    """One row per work dir holding an eval json.

    Args:
        work_dirs (Sequence[str]): Work directories; those without an eval
            json are skipped.

    Returns:
        list[dict]: Column title -> formatted value, one dict per row.
    """
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


def results_to_markdown(rows: List[Dict[str, str]]) -> str:
    """Markdown table; columns absent from every row are dropped.

    Args:
        rows (list[dict]): Rows of :func:`gather_results`.

    Returns:
        str: The table, one line per row plus the header.
    """
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
