"""Inferencer of language-guided (and baked) detectors: mmdet's
``DetInferencer`` with prompts, boxes labelled with them, prompt maps."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmdet.apis import DetInferencer
from mmengine.registry import INFERENCERS  # mmdet 3.x has no own
from torch import Tensor

from mmvlm.visualization import draw_prompt_detections
from .inference_pipeline import ImageType
from .language_guided_inferencer import (LanguageGuidedInferencerMixin,
                                         rgb_image, write_picture)


def draw_detections(image: ImageType,
                    result,
                    class_names: Sequence[str],
                    out_file: Optional[str] = None,
                    score_thr: float = 0.3,
                    **kwargs) -> np.ndarray:
    """Draw the boxes above ``score_thr`` labelled with their prompts.

    See :func:`mmvlm.visualization.draw_prompt_detections`: small images
    enlarged, labels placed without overlap (a legend when they do not
    fit), at most ``max_boxes`` boxes, non-Latin prompts in a font that has
    their glyphs.

    Args:
        image (str | np.ndarray): Image path or BGR array.
        result (DetDataSample): A prediction.
        class_names (Sequence[str]): Name of each label.
        out_file (str, optional): PNG to write.
        score_thr (float): Boxes below this score are not drawn.
        **kwargs: ``max_boxes``, ``min_size``, ``legend``, ``palette``.

    Returns:
        np.ndarray: The drawn RGB image.
    """
    pred = result.pred_instances
    drawn = draw_prompt_detections(rgb_image(image), pred.bboxes,
                                   pred.scores, pred.labels,
                                   list(class_names), score_thr, **kwargs)
    write_picture(drawn, out_file)
    return drawn


@INFERENCERS.register_module()
class LanguageGuidedDetInferencer(LanguageGuidedInferencerMixin,
                                  DetInferencer):
    """Detect what free-text prompts name, as mmdet's ``DetInferencer``.

    ``inferencer(images, prompts='a red car. a person')`` returns mmdet's
    ``predictions`` / ``visualization`` dict; the labels index
    :attr:`classes`. Arguments: see
    :class:`LanguageGuidedInferencerMixin`.

    Examples:
        >>> inferencer = LanguageGuidedDetInferencer(
        ...     'configs/detection/lg-atss_r50_fpn_1x_coco.py', 'lg.pth')
        >>> out = inferencer('street.jpg', prompts='a red car. a person',
        ...                  return_vis=True)
    """

    codebase = 'mmdet'
    # mmdet's test pipelines load (empty) annotations, as inference_detector
    drop_transforms = ()
    sample_defaults = dict(img_id=0)
    visualize_kwargs = DetInferencer.visualize_kwargs | {
        'max_boxes', 'min_size', 'legend', 'palette'
    }

    def visualize(self,
                  inputs: list,
                  preds: list,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: int = 0,
                  draw_pred: bool = True,
                  pred_score_thr: float = 0.3,
                  no_save_vis: bool = False,
                  img_out_dir: str = '',
                  **kwargs) -> Optional[List[np.ndarray]]:
        """Draw each prediction (:func:`draw_detections`).

        Args:
            inputs (list): Image paths or BGR arrays.
            preds (list[DetDataSample]): Their predictions.
            return_vis (bool): Return the RGB pictures.
            show (bool): Not supported (there is no window); False.
            wait_time (int): Unused (mmdet's argument).
            draw_pred (bool): Unused (the boxes are always drawn).
            pred_score_thr (float): Boxes below it are not drawn.
            no_save_vis (bool): Write no picture.
            img_out_dir (str): Pictures go to ``<img_out_dir>/vis/``.
            **kwargs: ``max_boxes``, ``min_size``, ``legend``,
                ``palette``.

        Returns:
            list[np.ndarray] | None: RGB pictures, None when none is asked.
        """
        if show:
            raise ValueError('show=True is not supported: ask for the '
                             'pictures with return_vis=True or out_dir.')
        img_out_dir = '' if no_save_vis else img_out_dir
        if not img_out_dir and not return_vis:
            return None
        return self._draw_all(inputs, preds, img_out_dir,
                              score_thr=pred_score_thr, **kwargs)

    def draw(self, image: ImageType, pred, out_file: Optional[str] = None,
             **kwargs) -> np.ndarray:
        """:func:`draw_detections` with :attr:`classes`."""
        return draw_detections(image, pred, self.classes, out_file,
                               **kwargs)

    def _prompt_maps(self, inputs: Tensor, samples: list,
                     entries: list) -> Tensor:
        """``[P, H, W]`` best classification score per location and prompt,
        over all feature levels and anchors (sigmoid or softmax as the head
        scores), at the input size."""
        cls_scores = self.model(inputs, samples, mode='tensor')[0]
        head = getattr(self.model, 'bbox_head', None)
        use_sigmoid = getattr(head, 'use_sigmoid_cls', True)
        num_prompts = len(entries)
        maps = []
        for level in cls_scores:
            b, channels, h, w = level.shape
            if channels % num_prompts:
                raise RuntimeError(
                    f'{channels} classification channels are not a multiple'
                    f' of the {num_prompts} prompts; prompt maps need a '
                    'one-stage language-guided head (ATSS, RetinaNet, '
                    'FCOS...).')
            level = level.reshape(b, channels // num_prompts, num_prompts,
                                  h, w)
            level = level.sigmoid() if use_sigmoid else level.softmax(dim=2)
            level = level.amax(dim=1)  # best anchor per location
            maps.append(
                torch.nn.functional.interpolate(level,
                                                size=inputs.shape[2:],
                                                mode='bilinear',
                                                align_corners=False))
        return torch.stack(maps).amax(dim=0)[0]
