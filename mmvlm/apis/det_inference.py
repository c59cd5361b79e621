"""Inference API of language-guided detectors: load a model, detect the
objects named by free-text prompts, draw labelled boxes."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from torch import nn

from .model_loading import init_language_guided_model
from .model_vocabulary import class_names

ImageType = Union[str, np.ndarray]


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
            model's classes).

    Returns:
        tuple[DetDataSample, list[str]]: The prediction, whose
        ``pred_instances.labels`` index the returned class names.
    """
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    if prompts is not None:
        if getattr(model, 'is_baked', False):
            raise ValueError(
                'This model has a baked, fixed vocabulary '
                f'({model.vocabulary}); it cannot take new prompts. Use the '
                'language-guided checkpoint, or drop the prompts.')
        model.set_vocabulary(prompts)
    elif getattr(model, 'vocabulary', None) is None:
        raise ValueError('Give prompts (e.g. "a red car. a person"): the '
                         'model has no vocabulary of its own.')
    names = class_names(model)
    cfg = getattr(model, 'cfg', None) or {}
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        return inference_detector(model, image), names


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
        result (DetDataSample): Prediction of :func:`detect`.
        class_names (Sequence[str]): Name of each label.
        out_file (str, optional): PNG to write.
        score_thr (float): Boxes below this score are not drawn.
        **kwargs: ``max_boxes``, ``min_size``, ``legend``, ``palette``.

    Returns:
        np.ndarray: The drawn RGB image.
    """
    import mmcv

    from mmvlm.visualization import draw_prompt_detections
    img = mmcv.imread(image) if isinstance(image, str) else image
    pred = result.pred_instances
    drawn = draw_prompt_detections(mmcv.bgr2rgb(img), pred.bboxes,
                                   pred.scores, pred.labels,
                                   list(class_names), score_thr, **kwargs)
    if out_file:
        mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
    return drawn


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
