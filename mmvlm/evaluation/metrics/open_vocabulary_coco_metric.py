"""COCO box metric that also reports AP50 on base and novel classes."""
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation import CocoMetric
from mmengine.logging import MMLogger

from mmvlm.registry import DET_METRICS

#: The standard open-vocabulary COCO split (OVR-CNN, Zareian et al. 2021):
#: 48 base classes seen in training, 17 novel classes only seen as text.
COCO_OV_BASE_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'train', 'truck', 'boat',
    'bench', 'bird', 'horse', 'sheep', 'bear', 'zebra', 'giraffe', 'backpack',
    'handbag', 'suitcase', 'frisbee', 'skis', 'kite', 'surfboard', 'bottle',
    'fork', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'pizza', 'donut', 'chair', 'bed', 'toilet', 'tv',
    'laptop', 'mouse', 'remote', 'microwave', 'oven', 'toaster',
    'refrigerator', 'book', 'clock', 'vase', 'toothbrush')
COCO_OV_NOVEL_CLASSES = ('airplane', 'bus', 'cat', 'dog', 'cow', 'elephant',
                         'umbrella', 'tie', 'snowboard', 'skateboard', 'cup',
                         'knife', 'cake', 'couch', 'keyboard', 'sink',
                         'scissors')


@DET_METRICS.register_module()
class OpenVocabularyCocoMetric(CocoMetric):
    """:class:`CocoMetric` plus box AP50 over base, novel and all classes.

    The usual ``bbox_mAP`` family is computed by the stock metric; then the
    same detections are evaluated with COCOeval restricted to the base
    classes, the novel classes and their union, giving ``bbox_AP50_base``,
    ``bbox_AP50_novel`` and ``bbox_AP50_all``.

    Args:
        base_classes (Sequence[str]): Names of the base (seen) classes.
            Defaults to the 48 COCO base classes.
        novel_classes (Sequence[str]): Names of the novel (unseen) classes.
            Defaults to the 17 COCO novel classes.
        **kwargs: Arguments of :class:`CocoMetric` (``metric`` must include
            ``'bbox'``).
    """

    default_prefix: Optional[str] = 'coco'

    def __init__(self,
                 base_classes: Sequence[str] = COCO_OV_BASE_CLASSES,
                 novel_classes: Sequence[str] = COCO_OV_NOVEL_CLASSES,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if 'bbox' not in self.metrics:
            raise ValueError(
                'OpenVocabularyCocoMetric reports box AP50: metric must '
                f"include 'bbox', got {self.metrics}.")
        overlap = set(base_classes) & set(novel_classes)
        if overlap:
            raise ValueError(f'Classes {sorted(overlap)} are both base and '
                             'novel; a class belongs to one split.')
        self.base_classes = tuple(base_classes)
        self.novel_classes = tuple(novel_classes)

    def _split_cat_ids(self, names: Sequence[str]) -> List[int]:
        classes = list(self.dataset_meta['classes'])
        missing = [n for n in names if n not in classes]
        if missing:
            raise ValueError(
                f'Split classes {missing} are not among the evaluation '
                f'dataset classes ({len(classes)}: {classes[:5]}...); the '
                'test dataset must list base and novel classes.')
        return [self.cat_ids[classes.index(n)] for n in names]

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Stock COCO metrics plus base / novel / all AP50.

        Args:
            results (list): Processed results of every batch.

        Returns:
            dict[str, float]: Metrics, including ``bbox_AP50_base``,
            ``bbox_AP50_novel`` and ``bbox_AP50_all``.
        """
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        logger = MMLogger.get_current_instance()
        _, preds = zip(*results)
        with tempfile.TemporaryDirectory() as tmp_dir:
            files = self.results2json(preds, osp.join(tmp_dir, 'results'))
            from mmengine.fileio import load
            detections = load(files['bbox'])
        splits = dict(
            base=self._split_cat_ids(self.base_classes),
            novel=self._split_cat_ids(self.novel_classes))
        splits['all'] = splits['base'] + splits['novel']
        for split, cat_ids in splits.items():
            metrics[f'bbox_AP50_{split}'] = self._ap50(detections, cat_ids)
        logger.info('open-vocabulary box AP50: ' + ', '.join(
            f'{s} {metrics[f"bbox_AP50_{s}"]:.3f}' for s in splits))
        return metrics

    def _ap50(self, detections: list, cat_ids: List[int]) -> float:
        """Box AP at IoU 0.5 over ``cat_ids`` (-1 when no gt / detections)."""
        coco_gt: COCO = self._coco_api
        if not coco_gt.get_ann_ids(cat_ids=cat_ids, img_ids=self.img_ids):
            return -1.0
        detections = [d for d in detections if d['category_id'] in cat_ids]
        if not detections:
            return 0.0
        coco_dt = coco_gt.loadRes(detections)
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
        coco_eval.params.catIds = cat_ids
        coco_eval.params.imgIds = self.img_ids
        coco_eval.params.iouThrs = np.array([0.5])
        coco_eval.evaluate()
        coco_eval.accumulate()
        precision = coco_eval.eval['precision'][0, :, :, 0, -1]
        valid = precision[precision > -1]
        return float(valid.mean()) if valid.size else -1.0
