"""mIoU on seen and unseen classes (open-vocabulary segmentation)."""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from mmseg.evaluation import IoUMetric

from mmvlm.registry import SEG_METRICS


@SEG_METRICS.register_module()
class OpenVocabularyIoUMetric(IoUMetric):
    """The stock :class:`IoUMetric` plus mIoU on seen and unseen classes.

    A model trained on the names of the seen classes only is evaluated on
    all classes; this metric reports ``mIoU_seen``, ``mIoU_unseen`` and
    their harmonic mean ``hIoU`` next to the stock keys (``mIoU``, ``aAcc``,
    ``mDice`` ...), in percent like them.

    Args:
        unseen_classes (Sequence[int | str]): Ids or names of the classes
            kept out of training; every other class is seen.
        **kwargs: Arguments of :class:`IoUMetric`.
    """

    def __init__(self, unseen_classes: Sequence[Union[int, str]],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(unseen_classes, (str, int)) or not unseen_classes:
            raise ValueError('unseen_classes must be a non-empty list of '
                             f'class ids or names, got {unseen_classes!r}.')
        self.unseen_classes = list(unseen_classes)

    def unseen_ids(self) -> List[int]:
        """The unseen class ids, names resolved via ``dataset_meta``."""
        classes = list((self.dataset_meta or {}).get('classes', ()))
        ids = []
        for item in self.unseen_classes:
            if isinstance(item, str):
                if item not in classes:
                    raise ValueError(f'unseen class {item!r} is not a class '
                                     'of the dataset.')
                ids.append(classes.index(item))
            else:
                if classes and not 0 <= int(item) < len(classes):
                    raise ValueError(f'unseen class id {item} is out of '
                                     f'range 0..{len(classes) - 1}.')
                ids.append(int(item))
        return ids

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Stock metrics plus ``mIoU_seen``, ``mIoU_unseen`` and ``hIoU``.

        Args:
            results (list): Per-image area tuples from :meth:`process`.

        Returns:
            dict[str, float]: The metrics.
        """
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        areas = tuple(zip(*results))
        intersect = sum(areas[0]).float()
        union = sum(areas[1]).float()
        iou = (intersect / union).cpu().numpy()  # nan where union == 0
        unseen = np.zeros(len(iou), dtype=bool)
        unseen[self.unseen_ids()] = True
        seen_miou = self._mean(iou[~unseen])
        unseen_miou = self._mean(iou[unseen])
        metrics['mIoU_seen'] = seen_miou
        metrics['mIoU_unseen'] = unseen_miou
        metrics['hIoU'] = self.harmonic_mean(seen_miou, unseen_miou)
        return metrics

    @staticmethod
    def _mean(values: np.ndarray) -> float:
        if values.size == 0 or np.all(np.isnan(values)):
            return float('nan')
        return float(np.round(np.nanmean(values) * 100, 2))

    @staticmethod
    def harmonic_mean(a: float, b: float) -> float:
        """Harmonic mean of two percentages (0 when either is 0)."""
        if np.isnan(a) or np.isnan(b):
            return float('nan')
        if a + b == 0:
            return 0.0
        return float(np.round(2 * a * b / (a + b), 2))
