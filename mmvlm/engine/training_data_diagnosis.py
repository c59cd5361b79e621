"""Training that stops on its data says which files and the fix: mmengine's
and numpy's bare messages re-raised with the dataset checks' findings."""
import json
from typing import Optional

from mmengine.config import Config

from mmvlm.datasets.checks import _dataset_leaves, check_training_set
from .hooks.training_data_report_hook import summarise_findings


class TrainingDataError(RuntimeError):
    """Training stopped on its data; the message says which and the fix."""


#: Messages of mmengine / numpy that a bad training set ends in.
DATA_FAILURES = ('Cannot find valid image after',
                 'need at least one array to concatenate',
                 'failed to load image')


def train_with_data_diagnosis(runner, cfg: Config):
    """``runner.train()``; a failure caused by the training data is
    re-raised as :class:`TrainingDataError` naming the files and the fix.

    ``Cannot find valid image after 1000!`` (every image comes out of the
    pipeline without a box), ``need at least one array to concatenate``
    (the dataset is empty after filtering) and ``failed to load image``
    name neither the cause nor the fix; the checks of
    :mod:`mmvlm.datasets.checks` on the training set do.

    Args:
        runner (mmengine.runner.Runner): The runner.
        cfg (Config): Its config.

    Returns:
        The trained model (``runner.train()``'s result).
    """
    try:
        return runner.train()
    except Exception as err:  # noqa: B902  re-raised, with or without help
        explanation = explain_data_failure(cfg, err)
        if explanation is None:
            raise
        raise TrainingDataError(explanation) from err


def explain_data_failure(cfg: Config, err: BaseException) -> Optional[str]:
    """The message of :class:`TrainingDataError` for ``err``, or None when
    ``err`` is neither one of :data:`DATA_FAILURES` nor a
    ``json.JSONDecodeError`` (a malformed annotation json: mmdet's loader
    raises it without the file's name; the checks name the file)."""
    text = str(err)
    malformed_json = isinstance(err, json.JSONDecodeError)
    if not malformed_json and not any(m in text for m in DATA_FAILURES):
        return None
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    try:
        findings = check_training_set(dataset, read_images=True,
                                      max_ann_mb=float('inf'))
    except Exception as check_err:  # noqa: B902  still explain the rest
        findings, lines = [], [f'the data checks failed too: {check_err}']
    else:
        lines = summarise_findings(findings)
    errors = [f for f in findings if f.level == 'error']
    filter_cfg = [leaf.get('filter_cfg') for leaf in _leaves(dataset)]
    hint = ''
    if malformed_json:
        hint = (' A JSON file the training set reads is not valid JSON '
                f'({type(err).__name__}); the data checks below name the '
                'annotation file when it is one.')
    elif 'need at least one array' in text:
        hint = (' The training set is empty after filtering '
                f'(filter_cfg={filter_cfg}): images without annotations are '
                'dropped with filter_empty_gt=True; annotate them, or set '
                'train_dataloader.dataset.filter_cfg.filter_empty_gt=False '
                'to train on them as background.')
    elif 'Cannot find valid image' in text:
        hint = (' Every image the sampler drew came out of the pipeline '
                'without a usable box (boxes outside the image or of zero '
                'area are dropped, and so are crops without a box).')
    return (f'Training stopped on its data: {text.strip()}.{hint}'
            + ('\nThe data checks found:\n  ' + '\n  '.join(lines)
               if lines else '')
            + ('' if errors else '\nNo error in the annotations: check the '
               'pipeline (crop size, filters) and the image paths.')
            + '\nFix the data (tools/analysis_tools/check_dataset.py lists '
            'every case) and train again.')


def _leaves(dataset_cfg: dict) -> list:
    return _dataset_leaves(dict(dataset_cfg)) if dataset_cfg else []
