"""One markdown table of the evaluation results of work dirs.

Each work dir is what the stock ``tools/test.py`` (or ``tools/train.py``
with validation) leaves behind: the dumped config ``<name>.py`` and
``<timestamp>/<timestamp>.json`` with the metrics of the run. Detection
(``coco/bbox_mAP`` ...) and segmentation (``mIoU`` ...) results are both
understood; columns that no row has are left out.

The command line is ``tools/analysis_tools/gather_results.py``.

Nothing in a work dir runs as code: a work dir may come from someone else.
Metrics come from the json logs; the dumped config is parsed as data (its
literal assignments, see :func:`read_config_literals`), never executed; the
newest checkpoint, read only to count parameters, is loaded with
``weights_only=True`` (tensors, numbers and mmengine's log buffers only).
"""
import ast
import glob
import json
import os.path as osp
import pickle
import warnings
import zipfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging import HistoryBuffer

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


class _NotLiteral(ValueError):
    """A config value that is not plain data."""


def _literal(node: ast.AST) -> Any:
    """The value of a data-only expression: constants, lists, tuples,
    dicts, ``dict(key=value, ...)`` and negative numbers."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral('**')
        return {_literal(k): _literal(v) for k, v in zip(node.keys,
                                                         node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args and \
            all(k.arg is not None for k in node.keywords):
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)):
            return -value if isinstance(node.op, ast.USub) else value
    raise _NotLiteral(type(node).__name__)


def read_config_literals(path: str) -> ConfigDict:
    """The plain-data assignments of a dumped config, without running it.

    mmengine dumps a run's config as ``name = <literal>`` lines (dicts are
    written as ``dict(...)``). Each top-level assignment whose value is
    data (see :func:`_literal`) is read; anything else (calls, names,
    imports, lambdas) is skipped and never evaluated.

    Args:
        path (str): A ``.py`` config file.

    Returns:
        ConfigDict: The readable assignments (empty when the file does not
        parse).
    """
    with open(path, encoding='utf-8') as f:
        try:
            tree = ast.parse(f.read(), filename=path)
        except (SyntaxError, ValueError):
            return ConfigDict()
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = _literal(node.value)
            except _NotLiteral:
                continue
    return ConfigDict(values)


def load_config(work_dir: str):
    """The config dumped into the work dir, read as data.

    Returns:
        tuple[ConfigDict | None, str | None]: The config's plain-data
        assignments (:func:`read_config_literals`) and its name; (None,
        None) when the dir holds no ``.py`` file.
    """
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if not configs:
        return None, None
    path = configs[0]
    return read_config_literals(path), osp.splitext(osp.basename(path))[0]


def describe_vocabulary(cfg) -> str:
    """Short description of what the model was evaluated on."""
    if cfg is None:
        return '?'
    vocabulary = (cfg.get('model') or {}).get('vocabulary')
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


def checkpoint_safe_globals() -> list:
    """Classes and functions that ``weights_only`` loading may rebuild from
    an mmengine checkpoint besides tensors: mmengine's ``HistoryBuffer``
    (the message hub's logs) and numpy arrays and scalars. None of them
    runs code of the file's choosing."""
    core = getattr(np, '_core', None) or np.core
    found = [HistoryBuffer, np.ndarray, np.dtype,
             core.multiarray._reconstruct, core.multiarray.scalar]
    found += [type(np.dtype(c)) for c in 'bBhHiIlLqQefdgFDG?']
    return found


def count_parameters(work_dir: str) -> Optional[int]:
    """Number of values in the state dict of the newest checkpoint.

    The checkpoint is loaded with ``weights_only=True``: a file that needs
    anything else to unpickle (a pickle payload, a custom class) is not
    loaded, with a warning naming it, and the count is left empty.

    Args:
        work_dir (str): Work directory.

    Returns:
        int | None: The count; None without a (readable) checkpoint.
    """
    checkpoints = sorted(glob.glob(osp.join(work_dir, '*.pth')),
                         key=osp.getmtime)
    if not checkpoints:
        return None
    path = checkpoints[-1]
    try:
        # added for the process, not in torch's safe_globals context,
        # whose exit also drops what import mmvlm had allow-listed
        torch.serialization.add_safe_globals(checkpoint_safe_globals())
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError,
            zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ''
        warnings.warn(
            f'{path}: not loaded ({type(err).__name__}: {first[:300]}). '
            'Checkpoints are read with weights_only=True (tensors, numbers '
            "and mmengine's log buffers); its params column is left empty.")
        return None
    if not isinstance(state, dict):
        return None
    state = state.get('state_dict', state)
    if not isinstance(state, dict):
        return None
    return int(sum(v.numel() for v in state.values()
                   if isinstance(v, torch.Tensor)))


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
