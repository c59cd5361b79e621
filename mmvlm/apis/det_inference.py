"""Inference API of language-guided detectors: load a model, detect the
objects named by free-text prompts, draw labelled boxes (functions over
:class:`LanguageGuidedDetInferencer`)."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from torch import nn

from .inferencers import LanguageGuidedDetInferencer, draw_detections
from .model_loading import init_language_guided_model

ImageType = Union[str, np.ndarray]

__all__ = [
    'detect', 'detect_and_draw', 'draw_detections',
    'init_language_guided_detector'
]


def init_language_guided_detector(config: Union[str, Config],
                                  checkpoint: Optional[str] = None,
                                  device: str = 'cpu',
                                  cfg_options: Optional[dict] = None
                                  ) -> nn.Module:
    """Build a language-guided (or baked) detector from a config.

    Like ``mmdet.apis.init_detector``, with mmvlm imported first (its
    components registered, mmengine checkpoint contents allow-listed for
    torch's ``weights_only`` loading).

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
    return init_language_guided_model(config, 'mmdet', checkpoint, device,
                                      cfg_options)


def detect(model: nn.Module,
           image: ImageType,
           prompts: Optional[Union[str, Sequence]] = None):
    """Detect the objects named by ``prompts`` in one image.

    Args:
        model (nn.Module): A language-guided or baked detector.
        image (str | np.ndarray): Image path or BGR array.
        prompts (str | Sequence, optional): Free-text prompts, e.g.
            ``'a red car. a person with an umbrella'`` (split at full
            stops), or a list, or the path of a prompts file
            (``.yaml`` / ``.yml`` / ``.json``, e.g. the one
            ``tools/misc/new_project.py`` wrote for training: names,
            synonyms and templates per class; the synonyms of a class
            share its label). Duplicates are dropped with one warning; zero
            prompts is an error. None uses the model's vocabulary (a baked
            model's classes). Given prompts stay the model's vocabulary.

    Returns:
        tuple[DetDataSample, list[str]]: The prediction, whose
        ``pred_instances.labels`` index the returned class names.
    """
    inferencer = LanguageGuidedDetInferencer(model)
    out = inferencer(image, prompts, return_datasamples=True)
    return out['predictions'][0], inferencer.classes


def detect_and_draw(model: nn.Module,
                    image: ImageType,
                    prompts: Optional[Union[str, Sequence]],
                    out_file: str,
                    score_thr: float = 0.3,
                    **kwargs) -> Tuple[object, list]:
    """:func:`detect` then :func:`draw_detections`.

    Args:
        **kwargs: Drawing options of :func:`draw_detections`
            (``max_boxes``, ``min_size``, ``legend``, ``palette``).

    Returns:
        tuple[DetDataSample, list[str]]: Prediction and class names.
    """
    result, names = detect(model, image, prompts)
    draw_detections(image, result, names, out_file, score_thr, **kwargs)
    return result, names
