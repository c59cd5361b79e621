"""Inferencer of language-guided segmentors: mmseg's ``MMSegInferencer``
with prompts, regions labelled with them, pixel-prompt similarity maps."""
from typing import List, Optional, Sequence

import numpy as np
from mmseg.apis import MMSegInferencer
from mmseg.registry import INFERENCERS
from torch import Tensor

from mmvlm.visualization import draw_prompt_segmentation
from .inference_pipeline import ImageType
from .language_guided_inferencer import (LanguageGuidedInferencerMixin,
                                         rgb_image, write_picture)


def draw_segmentation(image: ImageType,
                      result,
                      class_names: Sequence[str],
                      out_file: Optional[str] = None,
                      alpha: float = 0.5,
                      **kwargs) -> np.ndarray:
    """Draw the predicted regions labelled with their prompts.

    See :func:`mmvlm.visualization.draw_prompt_segmentation`: small images
    enlarged, regions outlined, labels placed without overlap, a legend
    when crowded, non-Latin prompts in a font that has their glyphs.

    Args:
        image (str | np.ndarray): Image path or BGR array.
        result (SegDataSample): A prediction.
        class_names (Sequence[str]): Name of each label.
        out_file (str, optional): PNG to write.
        alpha (float): Opacity of the regions.
        **kwargs: ``min_size``, ``legend``, ``palette``.

    Returns:
        np.ndarray: The drawn RGB image.
    """
    label_map = result.pred_sem_seg.data[0].cpu().numpy()
    masks = np.stack([label_map == k for k in range(len(class_names))])
    drawn = draw_prompt_segmentation(rgb_image(image), masks,
                                     list(class_names), alpha=alpha,
                                     **kwargs)
    write_picture(drawn, out_file)
    return drawn


@INFERENCERS.register_module()
class LanguageGuidedSegInferencer(LanguageGuidedInferencerMixin,
                                  MMSegInferencer):
    """Segment what free-text prompts name, as mmseg's ``MMSegInferencer``.

    ``inferencer(images, prompts='background. left hippocampus')`` returns
    mmseg's ``predictions`` / ``visualization`` dict; with
    ``return_datasamples=True`` the same dict holding the data samples
    (mmseg returns the bare sample). Label ``i`` of the map is prompt
    ``i``. Arguments: see :class:`LanguageGuidedInferencerMixin`.

    Examples:
        >>> inferencer = LanguageGuidedSegInferencer(
        ...     'projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py',
        ...     'seg_lg.pth')
        >>> out = inferencer('slice.png', prompts='background. left '
        ...                  'hippocampus', return_vis=True)
    """

    codebase = 'mmseg'
    vis_subdir = ''  # mmseg's __call__ already gives <out_dir>/vis
    visualize_kwargs = MMSegInferencer.visualize_kwargs | {
        'min_size', 'legend', 'palette'
    }

    def visualize(self,
                  inputs: list,
                  preds: list,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: int = 0,
                  img_out_dir: str = '',
                  opacity: float = 0.5,
                  with_labels: bool = True,
                  **kwargs) -> Optional[List[np.ndarray]]:
        """Draw each prediction (:func:`draw_segmentation`).

        Args:
            inputs (list): Image paths or BGR arrays.
            preds (list[SegDataSample]): Their predictions.
            return_vis (bool): Return the RGB pictures.
            show (bool): Not supported (there is no window); False.
            wait_time (int): Unused (mmseg's argument).
            img_out_dir (str): Pictures go to ``<img_out_dir>/vis/``.
            opacity (float): Opacity of the regions. Default 0.5.
            with_labels (bool): Label the regions (else a legend only).
            **kwargs: ``min_size``, ``legend``, ``palette``.

        Returns:
            list[np.ndarray] | None: RGB pictures, None when none is asked.
        """
        if show:
            raise ValueError('show=True is not supported: ask for the '
                             'pictures with return_vis=True or out_dir.')
        if not img_out_dir and not return_vis:
            return None
        if not with_labels:
            kwargs['legend'] = True
        return self._draw_all(inputs, preds, img_out_dir, alpha=opacity,
                              **kwargs)

    def postprocess(self,
                    preds: list,
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> dict:
        """mmseg's results; with ``return_datasample`` the dict
        ``predictions`` (the data samples) / ``visualization``."""
        if return_datasample:
            return dict(predictions=list(preds),
                        visualization=visualization or [])
        return super().postprocess(preds, visualization, False,
                                   pred_out_dir)

    def draw(self, image: ImageType, pred, out_file: Optional[str] = None,
             **kwargs) -> np.ndarray:
        """:func:`draw_segmentation` with :attr:`classes`."""
        return draw_segmentation(image, pred, self.classes, out_file,
                                 **kwargs)

    def _prompt_maps(self, inputs: Tensor, samples: list,
                     entries: list) -> Tensor:
        """``[P, H, W]`` cosine similarity of the decode head's pixel
        embeddings with each prompt's text embedding, in ``[-1, 1]``."""
        return self.model.pixel_text_similarity(inputs, entries)[0]
