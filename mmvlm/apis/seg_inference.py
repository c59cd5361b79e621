"""Inference API of language-guided segmentors: load a model, segment the
regions named by free-text prompts, draw labelled regions (functions over
:class:`LanguageGuidedSegInferencer`)."""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from torch import nn

from .inferencers import (LanguageGuidedSegInferencer, draw_segmentation,
                          inference_pipeline)
from .model_loading import init_language_guided_model

ImageType = Union[str, np.ndarray]

__all__ = [
    'draw_segmentation', 'inference_pipeline',
    'init_language_guided_segmentor', 'segment', 'segment_and_draw'
]


def init_language_guided_segmentor(config: Union[str, Config],
                                   checkpoint: Optional[str] = None,
                                   device: str = 'cpu',
                                   cfg_options: Optional[dict] = None
                                   ) -> nn.Module:
    """Build a language-guided segmentor from a config.

    Like ``mmseg.apis.init_model``, with mmvlm imported first (its
    components registered, mmengine checkpoint contents allow-listed for
    torch's ``weights_only`` loading). ``dataset_meta`` comes from the
    checkpoint, else from the classes of the config's test dataset (never
    from a guessed dataset, as ``init_model`` does).

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file; None keeps the
            initialised weights.
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and ``dataset_meta``.

    Raises:
        RuntimeError: ``device`` is a CUDA device and CUDA is unavailable
            (checked before the model is built).
    """
    return init_language_guided_model(
        config, 'mmseg', checkpoint, device, cfg_options,
        meta_from_config=True)


def segment(model: nn.Module,
            image: ImageType,
            prompts: Optional[Union[str, Sequence]] = None
            ) -> Tuple[object, List[str]]:
    """Segment the regions named by ``prompts`` in one image.

    The prompts are the model's run-time vocabulary
    (``model.set_vocabulary(prompts)``, kept after the call), which wins
    over the class texts the test pipeline puts into the sample.

    Args:
        model (nn.Module): A language-guided segmentor, e.g. from
            :func:`init_language_guided_segmentor`.
        image (str | np.ndarray): Image path or BGR array.
        prompts (str | Sequence, optional): Free-text prompts, e.g.
            ``'background. left hippocampus. right hippocampus'`` (split at
            full stops), or a list, or the path of a prompts file
            (``.yaml`` / ``.yml`` / ``.json``, e.g. the one
            ``tools/misc/new_project.py`` wrote for training; the synonyms
            of a class share its label); entry ``i`` is label ``i`` of the
            map.
            Duplicates are dropped with one warning; zero prompts is an
            error. None uses the model's vocabulary.

    Returns:
        tuple[SegDataSample, list[str]]: The prediction, whose
        ``pred_sem_seg`` values index the returned class names.
    """
    inferencer = LanguageGuidedSegInferencer(model)
    out = inferencer(image, prompts, return_datasamples=True)
    return out['predictions'][0], inferencer.classes


def segment_and_draw(model: nn.Module,
                     image: ImageType,
                     prompts: Optional[Union[str, Sequence]],
                     out_file: str) -> Tuple[object, List[str]]:
    """:func:`segment` then :func:`draw_segmentation`.

    Returns:
        tuple[SegDataSample, list[str]]: Prediction and class names.
    """
    result, names = segment(model, image, prompts)
    draw_segmentation(image, result, names, out_file)
    return result, names
