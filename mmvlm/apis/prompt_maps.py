"""Per-prompt maps of one image for a language-guided segmentor or
detector (the model is run here), and their heat-map PNGs drawn by
:func:`mmvlm.visualization.draw_prompt_heatmap`."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from torch import Tensor

from mmvlm.structures import Vocabulary
from mmvlm.visualization import draw_prompt_heatmap, prompt_slug
from .model_vocabulary import class_names, temporary_vocabulary
from .seg_inference import inference_pipeline

ImageType = Union[str, np.ndarray]


def _load(image: ImageType) -> Tuple[np.ndarray, str]:
    """BGR array and a name stem."""
    if isinstance(image, str):
        bgr = cv2.imread(image)
        if bgr is None:
            raise FileNotFoundError(f'Cannot read image {image!r}.')
        return bgr, osp.splitext(osp.basename(image))[0]
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be [H, W, 3] BGR, got {image.shape}.')
    return image, 'image'


def _prepare(model, image: ImageType):
    """The test pipeline and data preprocessor on one image."""
    scope = model.cfg.get('default_scope', 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        pipeline = Compose(inference_pipeline(model.cfg, image))
        sample = pipeline(
            dict(img=image) if isinstance(image, np.ndarray) else dict(
                img_path=image))
    data = model.data_preprocessor(
        dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]),
        False)
    return data['inputs'], data['data_samples']


def _detector_maps(model, inputs: Tensor, samples) -> Tensor:
    """``[K, H, W]`` best classification score per location and prompt,
    over all feature levels and anchors (sigmoid or softmax as the head
    scores), at the input size."""
    outs = model(inputs, samples, mode='tensor')
    cls_scores = outs[0]
    head = getattr(model, 'bbox_head', None)
    use_sigmoid = getattr(head, 'use_sigmoid_cls', True)
    num_prompts = len(model.vocabulary)
    maps = []
    for level in cls_scores:
        b, channels, h, w = level.shape
        if channels % num_prompts:
            raise RuntimeError(
                f'{channels} classification channels are not a multiple of '
                f'the {num_prompts} prompts; prompt maps need a one-stage '
                'language-guided head (ATSS, RetinaNet, FCOS...).')
        level = level.reshape(b, channels // num_prompts, num_prompts, h, w)
        level = level.sigmoid() if use_sigmoid else level.softmax(dim=2)
        level = level.amax(dim=1)  # best anchor per location
        maps.append(
            torch.nn.functional.interpolate(level,
                                            size=inputs.shape[2:],
                                            mode='bilinear',
                                            align_corners=False))
    return torch.stack(maps).amax(dim=0)[0]


@torch.no_grad()
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
    vocabulary = Vocabulary.parse(prompts)
    model.eval()
    with temporary_vocabulary(model, list(vocabulary.entries)):
        inputs, samples = _prepare(model, image)
        names = class_names(model)
        if hasattr(model, 'pixel_text_similarity'):
            maps = model.pixel_text_similarity(inputs,
                                               list(vocabulary.entries))[0]
        else:
            maps = _detector_maps(model, inputs, samples)
    height, width = samples[0].metainfo['img_shape'][:2]
    return maps[:, :height, :width].float().cpu(), names


def save_prompt_heatmaps(model,
                         image: ImageType,
                         prompts: Union[str, Sequence],
                         out_dir: str,
                         prefix: Optional[str] = None,
                         **kwargs) -> List[str]:
    """Write one :func:`draw_prompt_heatmap` PNG per prompt.

    All maps of the image share one colour scale, so colours compare
    across prompts.

    Args:
        model (nn.Module): A language-guided segmentor or detector.
        image (str | np.ndarray): Image path or BGR array.
        prompts (str | Sequence): The prompts.
        out_dir (str): Output folder (created).
        prefix (str, optional): File-name stem; default the image's stem.
        **kwargs: ``alpha`` / ``min_size`` of :func:`draw_prompt_heatmap`.

    Returns:
        list[str]: ``<prefix>_heatmap_<i>_<prompt>.png`` per prompt.
    """
    bgr, stem = _load(image)
    maps, names = prompt_similarity_maps(model, image, prompts)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    value_range = (float(maps.min()), float(maps.max()))
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, (sim, name) in enumerate(zip(maps, names)):
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
