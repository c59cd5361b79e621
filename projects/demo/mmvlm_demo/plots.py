"""Training curves of the demo models from mmengine's scalar logs.

mmengine's ``LocalVisBackend`` writes ``<run>/<timestamp>/vis_data/
scalars.json`` (one JSON record a line): training records carry ``iter``
and ``loss``; validation records carry the metric (``coco/bbox_mAP``,
``mIoU``) and ``step``. :func:`plot_training_curves` draws, per task, the
training loss and the validation metric of every model over iterations
(matplotlib, Agg backend: no display needed).
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

#: Validation metric drawn per task (key in the scalar log, label, scale).
VAL_METRIC = {
    'trees': ('coco/bbox_mAP', 'bbox mAP', 100.0),
    'brain': ('mIoU', 'mIoU', 1.0),
}
TASK_TITLE = {'trees': 'tree crowns (detection)',
              'brain': 'brain regions (segmentation)'}


def read_scalars(run_dir: str) -> Tuple[List[Tuple[int, float]],
                                        List[Tuple[int, Dict[str, float]]]]:
    """Training losses and validation records of one run.

    The newest ``vis_data/scalars.json`` directly under the run (a
    training run; ``test/`` runs are not read).

    Args:
        run_dir (str): The run's work dir.

    Returns:
        tuple: ``[(iter, loss)]`` and ``[(step, record)]`` (validation),
        both empty when there is no log.
    """
    logs = sorted(glob.glob(osp.join(run_dir, '*', 'vis_data',
                                     'scalars.json')))
    losses, vals = [], []
    if not logs:
        return losses, vals
    with open(logs[-1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if 'loss' in rec and 'iter' in rec:
                losses.append((int(rec['iter']), float(rec['loss'])))
            elif 'step' in rec and any(
                    k in rec for k, _, _ in VAL_METRIC.values()):
                vals.append((int(rec['step']), rec))
    return losses, vals


def plot_training_curves(work_dir: str,
                         models: Sequence[dict],
                         out_file: str,
                         labels: Optional[Dict[str, str]] = None,
                         test_metrics: Optional[Dict[str, float]] = None
                         ) -> Optional[str]:
    """Draw loss and validation metric over iterations, per task.

    A validation record logged at step 0 of a run that trained (mmengine
    logs metrics by epoch unless the logger hook has
    ``log_metric_by_epoch=False``; an iteration-based run stays in epoch 0)
    cannot be placed on the iteration axis and is left out.

    Args:
        work_dir (str): Demo work directory (one sub-folder per run).
        models (Sequence[dict]): ``DEMO_MODELS``-like entries (``key``,
            ``task``).
        out_file (str): PNG to write.
        labels (dict, optional): Run key -> legend label.
        test_metrics (dict, optional): Run key -> the metric of its final
            test (same unit as the plotted one), drawn as a star at the
            last training iteration.

    Returns:
        str | None: ``out_file``, None when no run has a scalar log.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = [t for t in VAL_METRIC if any(m['task'] == t for m in models)]
    curves = {m['key']: read_scalars(osp.join(work_dir, m['key']))
              for m in models}
    if not any(loss for loss, _ in curves.values()):
        return None
    fig, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.6 * len(tasks)),
                             squeeze=False)
    for row, task in enumerate(tasks):
        key, name, scale = VAL_METRIC[task]
        ax_loss, ax_val = axes[row]
        for m in models:
            if m['task'] != task:
                continue
            losses, vals = curves[m['key']]
            label = (labels or {}).get(m['key'], m['key'])
            if losses:
                ax_loss.plot(*zip(*losses), label=label, linewidth=1)
            points = [(s, scale * float(r[key])) for s, r in vals
                      if key in r and (s > 0 or not losses)]
            line = None
            if points:
                line, = ax_val.plot(*zip(*points), marker='o', label=label)
            final = (test_metrics or {}).get(m['key'])
            if final is not None and losses:
                ax_val.plot([losses[-1][0]], [final], marker='*',
                            markersize=12, linestyle='none',
                            color=line.get_color() if line else None,
                            label=f'{label}: test')
        last = [curves[m['key']][0][-1][0] for m in models
                if m['task'] == task and curves[m['key']][0]]
        if last:
            ax_val.set_xlim(0, 1.05 * max(last))
        ax_loss.set_title(f'{TASK_TITLE[task]}: training loss')
        ax_loss.set_xlabel('iteration')
        ax_loss.set_yscale('log')
        ax_val.set_title(f'{TASK_TITLE[task]}: validation {name}')
        ax_val.set_xlabel('iteration')
        ax_val.set_ylabel(name)
        for ax in (ax_loss, ax_val):
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file
