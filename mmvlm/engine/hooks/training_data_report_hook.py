"""Say at the start of training what the training data loses.

Design notes: ``docs/design.md`` (module notes)."""
from collections import defaultdict
from typing import List

from mmengine.hooks import Hook

from mmvlm.datasets import checks
from mmvlm.registry import HOOKS


def summarise_findings(findings: List, examples: int = 3) -> List[str]:
    """Findings grouped by level and kind: a count and a few examples.

    Args:
        findings (list[Finding]): Output of the data checks.
        examples (int): Findings shown per group.

    Returns:
        list[str]: One line per group, errors first.
    """
    groups = defaultdict(list)
    for finding in findings:
        # the kind: the message up to its first number or quote
        kind = finding.message.split("'")[0].split('[')[0][:60]
        groups[(finding.level, kind)].append(finding)
    order = {'error': 0, 'warning': 1, 'info': 2}
    lines = []
    for (level, _), group in sorted(groups.items(),
                                    key=lambda kv: order[kv[0][0]]):
        shown = '; '.join(f'{f.where}: {f.message}'
                          for f in group[:examples])
        more = (f' (and {len(group) - examples} more like it)'
                if len(group) > examples else '')
        lines.append(f'{level} x{len(group)}: {shown}{more}')
    return lines


@HOOKS.register_module()
class TrainingDataReportHook(Hook):
    """Log, before training, what happens to imperfect training data.

    Args:
        max_ann_mb (float): COCO jsons larger than this are not read
            (``tools/analysis_tools/check_dataset.py`` checks them).
            Defaults to 100.
        examples (int): Findings shown per kind. Defaults to 3.
        max_dropped_fraction (float): Largest share of a COCO json's
            annotations that may be dropped when the dataset loads; above
            it training stops. Defaults to
            :data:`mmvlm.datasets.checks.MAX_DROPPED_FRACTION` (0.05).
    """
    priority = 'VERY_LOW'

    def __init__(self,
                 max_ann_mb: float = 100.,
                 examples: int = 3,
                 max_dropped_fraction: float = checks.MAX_DROPPED_FRACTION):
        if not 0 <= max_dropped_fraction <= 1:
            raise ValueError(
                f'max_dropped_fraction={max_dropped_fraction!r} must be a '
                'share between 0 and 1 (default '
                f'{checks.MAX_DROPPED_FRACTION}).')
        self.max_ann_mb = max_ann_mb
        self.examples = examples
        self.max_dropped_fraction = max_dropped_fraction

    def before_train(self, runner) -> None:
        """Log the findings on the training set; raise when too many
        annotations would be dropped.

        Raises:
            DroppedAnnotationsError: More than ``max_dropped_fraction`` of
                a COCO json's annotations would be dropped.
        """
        dataloader = runner.cfg.get('train_dataloader') or {}
        dataset = dataloader.get('dataset')
        if not dataset:
            return
        try:
            findings = checks.check_training_set(
                dataset,
                max_ann_mb=self.max_ann_mb,
                max_dropped_fraction=self.max_dropped_fraction)
        except Exception as err:  # noqa: B902  a report never stops a run
            runner.logger.warning('Training data not checked: '
                                  f'{type(err).__name__}: {err}')
            return
        if not findings:
            return
        lines = summarise_findings(findings, self.examples)
        runner.logger.warning(
            'Training data: what the pipeline skips, clips or drops (the '
            'data is unchanged; tools/analysis_tools/check_dataset.py lists '
            'every case):\n  ' + '\n  '.join(lines))
        # outside the try above: this one stops the run
        checks.raise_for_dropped_annotations(findings)
