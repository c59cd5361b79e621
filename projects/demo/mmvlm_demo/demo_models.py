"""The models the demo trains: one table for the run script and the report.

:data:`DEMO_MODELS` are the models of ``bash tools/run_demo.sh`` (the main
job); :data:`CONTROL_MODELS` are the controls and larger variants of
``MMVLM_DEMO_MODELS=controls bash tools/run_demo.sh`` (the second command
of ``docs/demo.md``, run after the main job into the same work dir);
:data:`OFF_BUDGET_MODELS` are configs tested but not trained by the demo;
:data:`SCRATCH_MODELS` are the from-scratch twins of the two stock
models, trained only for the pretrained-vs-scratch comparison of
``docs/demo.md`` (``MMVLM_DEMO_SCRATCH=1 bash tools/run_demo.sh``).

Each entry is a dict:

- ``key``: sub-folder of ``$MMVLM_DEMO_WORK_DIR`` the run writes to;
- ``task``: ``'concepts'`` (many-concept detection and segmentation, the
  pretraining),
  ``'trees'`` (detection) or ``'brain'`` (segmentation);
- ``config``: repository-relative config path;
- ``kind``: ``'stock'``, ``'lg-frozen'`` (frozen LM + learnable prefix),
  ``'lg-unfrozen'`` (LM fine-tuned too), ``'lg-smollm2'`` (frozen
  SmolLM2-135M + learnable prefix), ``'lg-random'`` (the LM replaced by a
  random one of the same architecture and tokenizer) or ``'scratch'``
  (stock, random backbone);
- ``language_model``: alias of the text model (``'minilm'``,
  ``'smollm2-135m'``) or None;
- ``seconds``: wall seconds of its training, test and probes in the
  fresh-clone run of ``docs/demo.md`` (two at a time, 2 CPU cores); the
  run script starts the longest first so that both slots end together;
- ``init_from``: key of the run whose checkpoint this one starts from
  (``load_from``; it waits for that run), or None;
- ``find_checkpoint``: ``find_checkpoint(demo_work_dir) -> str``, the
  checkpoint the demo's training wrote (``demo_work_dir`` is
  ``$MMVLM_DEMO_WORK_DIR``, e.g. ``work_dirs/demo``).

The module-level :func:`find_checkpoint` does the same for one run folder.
"""
import os.path as osp
from functools import partial
from typing import Dict, List, Optional

CONFIG_DIR = 'projects/demo/configs'
#: The demo's tasks.
TASKS = ('concepts', 'trees', 'brain')


def find_checkpoint(run_dir: str) -> str:
    """The checkpoint a training run wrote (mmengine's ``last_checkpoint``).

    Args:
        run_dir (str): The run's work dir, e.g. ``work_dirs/demo/det_stock``.

    Returns:
        str: Path of the checkpoint file, inside ``run_dir``.
    """
    pointer = osp.join(run_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(
            f'{pointer} does not exist: the run in {run_dir} has not '
            'finished training; run `bash tools/run_demo.sh` first.')
    with open(pointer) as f:
        name = osp.basename(f.read().strip())
    path = osp.join(run_dir, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{pointer} names {name}, which is not in '
                                f'{run_dir}; re-run the training.')
    return path


def _checkpoint_of(key: str, demo_work_dir: str) -> str:
    return find_checkpoint(osp.join(demo_work_dir, key))


def _model(key: str,
           task: str,
           config: str,
           kind: str,
           language_model: Optional[str],
           seconds: int,
           init_from: Optional[str] = None) -> Dict:
    return dict(
        key=key,
        task=task,
        config=f'{CONFIG_DIR}/{config}',
        kind=kind,
        language_model=language_model,
        seconds=seconds,
        init_from=init_from,
        find_checkpoint=partial(_checkpoint_of, key))


#: The models of the main job. The many-concept detectors train first; the
#: tree-crown detectors start from their checkpoints (language-guided from
#: language-guided, stock from stock: the closed-set class layer of the 574
#: seen names does not fit one class and starts anew).
DEMO_MODELS: List[Dict] = [
    _model('concepts_lg', 'concepts',
           'lg-atss_efficientnet-lite0_minilm_concepts.py', 'lg-frozen',
           'minilm', 700),
    _model('concepts_stock', 'concepts', 'atss_efficientnet-lite0_concepts.py',
           'stock', None, 560),
    _model('det_stock', 'trees', 'atss_efficientnet-lite0_trees.py',
           'stock', None, 108, init_from='concepts_stock'),
    _model('det_lg', 'trees', 'lg-atss_efficientnet-lite0_minilm_trees.py',
           'lg-frozen', 'minilm', 230, init_from='concepts_lg'),
    _model('det_lg_unfrozen', 'trees',
           'lg-atss_efficientnet-lite0_minilm-unfrozen_trees.py',
           'lg-unfrozen', 'minilm', 265, init_from='concepts_lg'),
    _model('seg_stock', 'brain', 'fpn_efficientnet-lite0_brain.py', 'stock',
           None, 121),
    _model('seg_lg', 'brain', 'lg-fpn_efficientnet-lite0_minilm_brain.py',
           'lg-frozen', 'minilm', 235),
]

#: Controls and larger language models (the second command of
#: docs/demo.md; within the main job's 20 minutes they do not fit).
CONTROL_MODELS: List[Dict] = [
    # the many-concept segmentor: 809 s of training and 734 s of
    # evaluation (per-name IoU over 575 names) in a fresh-clone main job,
    # which then took more than 20 minutes
    _model('concepts_seg_lg', 'concepts',
           'lg-fpn_efficientnet-lite0_minilm_concepts.py', 'lg-frozen',
           'minilm', 1540),
    _model('concepts_lg_random', 'concepts',
           'lg-atss_efficientnet-lite0_random-minilm_concepts.py',
           'lg-random', 'random-minilm', 700),
    _model('concepts_lg_smollm2', 'concepts',
           'lg-atss_efficientnet-lite0_smollm2_concepts.py', 'lg-smollm2',
           'smollm2-135m', 800),
    _model('seg_lg_unfrozen', 'brain',
           'lg-fpn_efficientnet-lite0_minilm-unfrozen_brain.py',
           'lg-unfrozen', 'minilm', 330),
    _model('seg_lg_smollm2', 'brain',
           'lg-fpn_efficientnet-lite0_smollm2_brain.py', 'lg-smollm2',
           'smollm2-135m', 500),
]

#: Configs the demo does not train, tested for 2 iterations in CI: the
#: closed-set semantic FPN over background + the 574 seen names scores
#: every pixel against 575 classes in its loss, which on 2 CPU cores costs
#: many times a language-guided step over a 32-name vocabulary (measured
#: in docs/demo.md); 800 steps do not fit the demo's budget.
OFF_BUDGET_MODELS: List[Dict] = [
    _model('concepts_seg_stock', 'concepts',
           'fpn_efficientnet-lite0_concepts.py', 'stock', None, 0),
]

#: Stock models with a randomly initialised backbone (docs/demo.md only).
SCRATCH_MODELS: List[Dict] = [
    _model('det_scratch', 'trees', 'atss_efficientnet-lite0-scratch_trees.py',
           'scratch', None, 108),
    _model('seg_scratch', 'brain', 'fpn_efficientnet-lite0-scratch_brain.py',
           'scratch', None, 121),
]


def models_of(task: str, models: Optional[List[Dict]] = None) -> List[Dict]:
    """The entries of one task.

    Args:
        task (str): ``'concepts'``, ``'trees'`` or ``'brain'``.
        models (list[dict], optional): Table to filter; default
            :data:`DEMO_MODELS` + :data:`CONTROL_MODELS`.

    Returns:
        list[dict]: The entries whose ``task`` is ``task``.
    """
    if task not in TASKS:
        raise ValueError(f'task={task!r}; use one of {TASKS}.')
    return [
        m for m in (models or DEMO_MODELS + CONTROL_MODELS)
        if m['task'] == task
    ]

