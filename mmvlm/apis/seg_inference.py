"""Inference API of language-guided segmentors: load a model, segment the
regions named by free-text prompts."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from torch import nn

from .model_loading import init_language_guided_model, test_dataset_cfg
from .model_vocabulary import class_names

ImageType = Union[str, np.ndarray]


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


def inference_pipeline(cfg: Config, image: ImageType) -> List[dict]:
    """The test pipeline that prepares one image for inference.

    It is the pipeline ``tools/test.py`` runs (the test dataloader's; the
    top-level ``test_pipeline`` only when there is no test dataloader; note
    that ``mmseg.apis.inference_model`` always reads the latter), without
    ``LoadAnnotations``, reading arrays with ``LoadImageFromNDArray``.

    Args:
        cfg (Config): The model's config.
        image (str | np.ndarray): What will be loaded.

    Returns:
        list[dict]: Transform configs (a copy; ``cfg`` is not changed).
    """
    pipeline = test_dataset_cfg(cfg).get('pipeline') or cfg.get(
        'test_pipeline')
    if not pipeline:
        raise ValueError(
            'The config has neither test_dataloader.dataset.pipeline nor '
            'test_pipeline; add the test pipeline (LoadImageFromFile ... '
            'PackSegInputs) to the config.')
    pipeline = [
        copy.deepcopy(dict(t)) for t in pipeline
        if t.get('type') != 'LoadAnnotations'
    ]
    if isinstance(image, np.ndarray):
        pipeline[0]['type'] = 'LoadImageFromNDArray'
    return pipeline


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
    import torch
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    if prompts is not None:
        model.set_vocabulary(prompts)
    names = class_names(model)
    scope = model.cfg.get('default_scope', 'mmseg')
    with DefaultScope.overwrite_default_scope(scope):
        pipeline = Compose(inference_pipeline(model.cfg, image))
        sample = pipeline(
            dict(img=image) if isinstance(image, np.ndarray) else dict(
                img_path=image))
    data = dict(inputs=[sample['inputs']],
                data_samples=[sample['data_samples']])
    with torch.no_grad():
        return model.test_step(data)[0], names


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
        result (SegDataSample): Prediction of :func:`segment`.
        class_names (Sequence[str]): Name of each label.
        out_file (str, optional): PNG to write.
        alpha (float): Opacity of the regions.
        **kwargs: ``min_size``, ``legend``, ``palette``.

    Returns:
        np.ndarray: The drawn RGB image.
    """
    import mmcv

    from mmvlm.visualization import draw_prompt_segmentation
    img = mmcv.imread(image) if isinstance(image, str) else image
    label_map = result.pred_sem_seg.data[0].cpu().numpy()
    masks = np.stack([label_map == k for k in range(len(class_names))])
    drawn = draw_prompt_segmentation(
        mmcv.bgr2rgb(img), masks, list(class_names), alpha=alpha, **kwargs)
    if out_file:
        mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
    return drawn


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
