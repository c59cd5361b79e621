"""What the language-guided inferencers add to mmdet's / mmseg's: a model
that may already be built, prompts per call, the test pipeline for files
and arrays, drawing with the prompts as labels, per-prompt maps."""
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.infer import BaseInferencer
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmvlm.structures import Vocabulary
from ..model_loading import init_language_guided_model
from ..model_vocabulary import class_names
from .inference_pipeline import (ANNOTATION_LOADERS, ImagePipeline, ImageType,
                                 read_image)

PromptsType = Optional[Union[str, Sequence]]


class LanguageGuidedInferencerMixin:
    """Language-guided inference on top of an OpenMMLab inferencer.

    Mixed in before ``DetInferencer`` / ``MMSegInferencer``. The model is a
    built language-guided (or baked) model, or a config (file or object)
    built with ``weights`` as ``init_language_guided_detector`` /
    ``init_language_guided_segmentor`` build it. The default scope is the
    config's, set only while the pipeline is built (the global one is left
    as it was). The prompts of a call become the model's run-time
    vocabulary (``model.set_vocabulary``, kept after the call, as
    :func:`mmvlm.apis.detect` keeps them); their text embeddings come from
    the language neck's cache, so repeating prompts does not run the
    language model again. Pictures are drawn by :mod:`mmvlm.visualization`
    (readable labels with the prompts), not by the config's visualizer.

    Args:
        model (nn.Module | str | Config): A built model, or its config.
        weights (str, optional): Checkpoint (with a config only).
        device (str, optional): Device of a model built here; default the
            available one.
        scope (str, optional): Default scope; default the config's, else
            :attr:`codebase`.
        show_progress (bool): Show a progress bar over the inputs.
    """

    #: Codebase of the inferencer ('mmdet' / 'mmseg').
    codebase: str = ''
    #: Transform types of the test pipeline left out at inference.
    drop_transforms: Tuple[str, ...] = ANNOTATION_LOADERS
    #: Keys every input dict of the pipeline starts with.
    sample_defaults: dict = {}
    #: Sub-folder of ``img_out_dir`` the pictures go to (mmdet's 'vis').
    vis_subdir: str = 'vis'

    def __init__(self,
                 model: Union[nn.Module, str, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = None,
                 show_progress: bool = False) -> None:
        self._built_model = model if isinstance(model, nn.Module) else None
        if self._built_model is not None:
            if weights is not None:
                raise ValueError(
                    f'weights={weights!r} with a built model: load the '
                    'checkpoint when building it, or pass its config.')
            cfg = getattr(model, 'cfg', None)
            if cfg is None:
                raise ValueError(
                    f'{type(model).__name__} has no cfg: build it with '
                    'init_language_guided_detector / _segmentor (which set '
                    'it), or pass the config instead of the model.')
        else:
            cfg = Config.fromfile(model) if isinstance(model, str) else model
        scope = scope or cfg.get('default_scope', None) or self.codebase
        self.num_visualized_imgs = 0
        self.num_predicted_imgs = 0
        self.num_pred_imgs = 0
        self.palette = 'none'
        with DefaultScope.overwrite_default_scope(scope):
            BaseInferencer.__init__(self, cfg, weights, device, scope,
                                    show_progress)

    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        if self._built_model is not None:
            return self._built_model
        return init_language_guided_model(
            cfg, self.codebase, weights, device,
            meta_from_config=self.codebase == 'mmseg')

    def _init_pipeline(self, cfg: Config) -> ImagePipeline:
        return ImagePipeline(cfg, self.drop_transforms, self.sample_defaults)

    def _init_visualizer(self, cfg: Config) -> None:
        return None

    # ------------------------------------------------------------ prompts
    def set_prompts(self, prompts: PromptsType) -> None:
        """Make ``prompts`` the model's run-time vocabulary (None keeps the
        current one, which must exist).

        Args:
            prompts (str | Sequence, optional): Free-text prompts (``'a red
                car. a person'``), a list (an entry may be a tuple of
                synonyms) or the path of a prompts file (``.yaml`` /
                ``.yml`` / ``.json``).
        """
        if prompts is not None:
            if getattr(self.model, 'is_baked', False):
                raise ValueError(
                    'This model has a baked, fixed vocabulary '
                    f'({self.model.vocabulary}); it cannot take new '
                    'prompts. Use the language-guided checkpoint, or drop '
                    'the prompts.')
            self.model.set_vocabulary(prompts)
        elif getattr(self.model, 'vocabulary', None) is None:
            raise ValueError('Give prompts (e.g. "a red car. a person"): the '
                             'model has no vocabulary of its own.')

    @property
    def classes(self) -> List[str]:
        """Name of each predicted label (the vocabulary's first synonyms,
        indexed by label id)."""
        return class_names(self.model)

    def __call__(self, inputs, prompts: PromptsType = None, **kwargs) -> Any:
        """Run the base inferencer's ``__call__`` on the ``prompts``.

        Args:
            inputs: Image path(s), BGR array(s) or a folder.
            prompts (str | Sequence, optional): See :meth:`set_prompts`.
            **kwargs: The base inferencer's arguments (``batch_size``,
                ``return_datasamples``, ``return_vis``, ``out_dir`` ...)
                and the drawing options of :meth:`draw`.

        Returns:
            dict: ``predictions`` and ``visualization`` (RGB pictures).
        """
        self.set_prompts(prompts)
        return super().__call__(inputs, **kwargs)

    # -------------------------------------------------------------- images
    def prepare(self, image: ImageType) -> Tuple[Tensor, list]:
        """The test pipeline and the data preprocessor on one image.

        Args:
            image (str | np.ndarray): Image path or BGR array.

        Returns:
            tuple[Tensor, list]: ``[1, 3, H, W]`` model inputs and the data
            samples.
        """
        data = self.collate_fn([self.pipeline(image)])
        data = self.model.data_preprocessor(data, False)
        return data['inputs'], data['data_samples']

    @torch.no_grad()
    def prompt_maps(self, image: ImageType,
                    prompts: Union[str, Sequence]) -> Tuple[Tensor, List[str]]:
        """How strongly each location of one image matches each prompt.

        The model's run-time vocabulary is restored afterwards.

        Args:
            image (str | np.ndarray): Image path or BGR array.
            prompts (str | Sequence): Prompts (``'a. b'``, a list, or a
                prompts file path); repeated ones are dropped.

        Returns:
            tuple[Tensor, list[str]]: ``[P, h, w]`` maps over the resized
            image (padding cut off) and the prompt names.
        """
        entries = list(Vocabulary.parse(prompts).entries)
        self.model.eval()
        with self.model.temporary_vocabulary(entries):
            inputs, samples = self.prepare(image)
            names = self.classes
            maps = self._prompt_maps(inputs, samples, entries)
        height, width = samples[0].metainfo['img_shape'][:2]
        return maps[:, :height, :width].float().cpu(), names

    def _prompt_maps(self, inputs: Tensor, samples: list,
                     entries: list) -> Tensor:
        """``[P, H, W]`` maps of one image at the input size."""
        raise NotImplementedError

    # ------------------------------------------------------------- drawing
    def draw(self, image: ImageType, pred, out_file: Optional[str] = None,
             **kwargs) -> np.ndarray:
        """The RGB picture of one prediction, labelled with the prompts."""
        raise NotImplementedError

    def _draw_all(self, inputs: list, preds: list, img_out_dir: str,
                  **kwargs) -> List[np.ndarray]:
        """:meth:`draw` each prediction; with ``img_out_dir``, write
        ``<img_out_dir>/<vis_subdir>/<name>`` (the image's file name, else
        a running number) as the base inferencer does."""
        pictures = []
        for image, pred in zip(inputs, preds):
            if isinstance(image, str):
                name = osp.basename(image)
            else:
                name = f'{self.num_visualized_imgs:08d}.jpg'
            out_file = osp.join(img_out_dir, self.vis_subdir,
                                name) if img_out_dir else None
            pictures.append(self.draw(image, pred, out_file, **kwargs))
            self.num_visualized_imgs += 1
        return pictures


def write_picture(picture: np.ndarray, out_file: Optional[str]) -> None:
    """Write an RGB picture (nothing when ``out_file`` is None)."""
    if out_file:
        mmcv.imwrite(mmcv.rgb2bgr(picture), out_file)


def rgb_image(image: ImageType) -> np.ndarray:
    """The RGB array of an image path or BGR array."""
    return np.ascontiguousarray(read_image(image)[0][..., ::-1])
