"""The test pipeline of a config applied to one image (a file or a BGR
array), as language-guided inference runs it."""
import copy
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import Compose
from mmengine.config import Config

from ..model_loading import test_dataset_cfg

ImageType = Union[str, np.ndarray]


#: Transforms that load ground truth, left out at inference.
ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadWideSegMap')

def read_image(image: ImageType) -> Tuple[np.ndarray, str]:
    """A BGR array and a file-name stem of one image.

    Args:
        image (str | np.ndarray): Image path or ``[H, W, 3]`` BGR array.

    Returns:
        tuple[np.ndarray, str]: ``[H, W, 3]`` BGR array; the file's stem,
        ``'image'`` for an array.
    """
    if isinstance(image, str):
        bgr = cv2.imread(image)
        if bgr is None:
            raise FileNotFoundError(f'Cannot read image {image!r}.')
        return bgr, osp.splitext(osp.basename(image))[0]
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be [H, W, 3] BGR, got {image.shape}.')
    return image, 'image'


def _dataset_pipeline(dataset: dict) -> Optional[list]:
    """The pipeline of a dataset config, looked up through wrappers."""
    if dataset.get('pipeline'):
        return dataset['pipeline']
    if dataset.get('dataset'):
        return _dataset_pipeline(dataset['dataset'])
    if dataset.get('datasets'):
        return _dataset_pipeline(dataset['datasets'][0])
    return None


def inference_pipeline(cfg: Config,
                       image: ImageType,
                       drop: Sequence[str] = ANNOTATION_LOADERS
                       ) -> List[dict]:
    """The test pipeline that prepares one image for inference.

    It is the pipeline ``tools/test.py`` runs (the test dataloader's, also
    inside a dataset wrapper; the top-level ``test_pipeline`` only when
    there is no test dataloader), without the ``drop`` transforms, reading
    arrays with ``LoadImageFromNDArray``.

    Args:
        cfg (Config): The model's config.
        image (str | np.ndarray): What will be loaded.
        drop (Sequence[str]): Transform types left out.

    Returns:
        list[dict]: Transform configs (a copy; ``cfg`` is not changed).
    """
    pipeline = _dataset_pipeline(test_dataset_cfg(cfg)) or cfg.get(
        'test_pipeline')
    if not pipeline:
        raise ValueError(
            'The config has neither test_dataloader.dataset.pipeline nor '
            'test_pipeline; add the test pipeline (LoadImageFromFile ... '
            'PackSegInputs) to the config.')
    pipeline = [
        copy.deepcopy(dict(t)) for t in pipeline if t.get('type') not in drop
    ]
    if isinstance(image, np.ndarray):
        pipeline[0]['type'] = 'LoadImageFromNDArray'
    return pipeline


class ImagePipeline:
    """The test pipeline of a config for one image, a file or an array.

    Build it under the model's default scope (the transforms are looked up
    there).

    Args:
        cfg (Config): The model's config.
        drop (Sequence[str]): Transform types left out.
        defaults (dict, optional): Keys every input dict starts with (e.g.
            ``img_id``).
    """

    def __init__(self,
                 cfg: Config,
                 drop: Sequence[str] = ANNOTATION_LOADERS,
                 defaults: Optional[dict] = None) -> None:
        self.defaults = dict(defaults or {})
        self.from_file = Compose(inference_pipeline(cfg, '', drop))
        self.from_array = Compose(
            inference_pipeline(cfg, np.zeros((1, 1, 3), np.uint8), drop))

    def __call__(self, image: ImageType) -> dict:
        """Load and transform one image.

        Args:
            image (str | np.ndarray): Image path or BGR array.

        Returns:
            dict: ``inputs`` (``[3, H, W]`` uint8 tensor) and
            ``data_samples``.
        """
        if isinstance(image, np.ndarray):
            return self.from_array(dict(self.defaults, img=image))
        return self.from_file(dict(self.defaults, img_path=image))
