"""Per-prompt maps of one image for a language-guided segmentor or
detector (run by its inferencer), and the one function writing their
heat-maps."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from torch import Tensor, nn

from mmvlm.visualization import draw_prompt_heatmap, prompt_slug
from . import inferencers
from .inferencers import LanguageGuidedInferencerMixin, read_image

ImageType = Union[str, np.ndarray]


def prompt_inferencer(model: nn.Module) -> LanguageGuidedInferencerMixin:
    """The inferencer of a language-guided segmentor (it has
    ``pixel_text_similarity``) or detector."""
    if hasattr(model, 'pixel_text_similarity'):
        return inferencers.LanguageGuidedSegInferencer(model)
    return inferencers.LanguageGuidedDetInferencer(model)


def prompt_similarity_maps(
        model, image: ImageType,
        prompts: Union[str, Sequence]) -> Tuple[Tensor, List[str]]:
    """How strongly each location of one image matches each prompt.

    - Segmentor (``LanguageGuidedEncoderDecoder``): cosine similarity of
      the decode head's pixel embeddings with each prompt's text embedding
      (``pixel_text_similarity``), in ``[-1, 1]``.
    - Detector (a one-stage language-guided head): the best classification
      score of each location for each prompt over anchors and feature
      levels (a probability for sigmoid heads).

    The model's run-time vocabulary is restored afterwards.

    Args:
        model (nn.Module): A language-guided segmentor or detector (eval).
        image (str | np.ndarray): Image path or BGR array.
        prompts (str | Sequence): Prompts (``'a. b'``, a list, or a
            prompts file path); repeated ones are dropped.

    Returns:
        tuple[Tensor, list[str]]: ``[P, h, w]`` maps over the resized image
        (padding cut off; pass each with the image to
        :func:`draw_prompt_heatmap`, which resizes it) and the prompt names.
    """
    return prompt_inferencer(model).prompt_maps(image, prompts)


def save_prompt_heatmaps(model: nn.Module,
                         image: ImageType,
                         prompts: Union[str, Sequence],
                         out_dir: str,
                         prefix: Optional[str] = None,
                         value_range: Optional[Tuple[float, float]] = None,
                         draw: Optional[Sequence[str]] = None,
                         **kwargs) -> List[str]:
    """Write one :func:`draw_prompt_heatmap` PNG per prompt: the heat-maps
    of a model on one image.

    Args:
        model (nn.Module): A language-guided segmentor or detector.
        image (str | np.ndarray): Image path or BGR array.
        prompts (str | Sequence): The prompts (the whole vocabulary of the
            maps).
        out_dir (str): Output folder (created).
        prefix (str, optional): File-name stem; default the image's stem.
        value_range (tuple[float, float], optional): ``(low, high)`` of the
            colour scale, e.g. ``(-1, 1)`` for cosine similarities; default
            the min / max over all maps of the image, so colours compare
            across prompts.
        draw (Sequence[str], optional): Names of the prompts to draw;
            default all.
        **kwargs: ``alpha`` / ``min_size`` of :func:`draw_prompt_heatmap`.

    Returns:
        list[str]: ``<prefix>_heatmap_<i>_<prompt>.png`` per drawn prompt,
        ``i`` its index among ``prompts``.
    """
    bgr, stem = read_image(image)
    maps, names = prompt_similarity_maps(model, image, prompts)
    unknown = sorted(set(draw or ()) - set(names))
    if unknown:
        raise ValueError(f'draw={unknown} are not among the prompts {names}; '
                         'name prompts given in prompts.')
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    value_range = value_range or (float(maps.min()), float(maps.max()))
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, (sim, name) in enumerate(zip(maps, names)):
        if draw is not None and name not in draw:
            continue
        picture = draw_prompt_heatmap(rgb,
                                      sim,
                                      name,
                                      value_range=value_range,
                                      **kwargs)
        path = osp.join(
            out_dir, f'{prefix or stem}_heatmap_{i}_'
            f'{prompt_slug(name)}.png')
        cv2.imwrite(path, np.ascontiguousarray(picture[..., ::-1]))
        paths.append(path)
    return paths
