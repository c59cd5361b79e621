"""A wrapper that adds the class texts to every sample of any dataset."""
import copy
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, Compose
from mmengine.registry import DATASETS as ROOT_DATASETS

from mmvlm.registry import DATASETS
from mmvlm.structures import check_synonyms, warn_vocabulary_conflicts
from .class_texts import load_class_texts


@DATASETS.register_module()
class MultiModalDataset:
    """Wrap a stock mmdet / mmseg dataset so every sample carries texts.

    ``get_data_info(i)`` returns the wrapped dataset's ``data_info`` with
    ``text`` set to the class texts: the synonym lists of
    ``class_text_path`` (YOLO-World format, checked to have one entry per
    class of the dataset) or else the dataset's ``metainfo['classes']``.
    :class:`LoadClassTexts` in the pipeline then cleans them, fills the
    templates and sets the remaining keys of ``docs/design.md`` §2.

    Everything else (``metainfo`` for the metrics, ``get_data_info`` for
    mmdet's aspect-ratio sampler, ``full_init``) is the wrapped dataset's,
    so stock samplers, evaluators and DDP work unchanged.

    Args:
        dataset (BaseDataset | dict): The dataset, or its config (built in
            the current default scope, e.g. ``default_scope='mmdet'``).
        class_text_path (str, optional): Class-text json file.
        pipeline (Sequence[dict | Callable], optional): Pipeline applied to
            the samples. None uses the wrapped dataset's own pipeline;
            giving both is an error (which one would run is ambiguous).
        max_refetch (int): In training, how many other random samples to
            try when the pipeline returns None. Defaults to 1000.
        lazy_init (bool): Defer the wrapped dataset's ``full_init``.
            Defaults to False.
        backend_args (dict, optional): mmengine file-backend arguments for
            ``class_text_path``.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 class_text_path: Optional[str] = None,
                 pipeline: Optional[Sequence] = None,
                 max_refetch: int = 1000,
                 lazy_init: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        if isinstance(dataset, dict):
            dataset = ROOT_DATASETS.build(dataset)
        if not hasattr(dataset, 'get_data_info') or not hasattr(
                dataset, 'metainfo'):
            raise TypeError('MultiModalDataset wraps an mmengine dataset '
                            '(with get_data_info and metainfo), got '
                            f'{type(dataset).__name__}.')
        self.dataset = dataset
        self.class_text_path = class_text_path
        self.backend_args = backend_args
        self.max_refetch = max_refetch
        inner_pipeline = getattr(dataset, 'pipeline', None)
        inner_steps = getattr(inner_pipeline, 'transforms', None) or []
        if pipeline is not None and len(pipeline) and len(inner_steps):
            raise ValueError(
                'Both MultiModalDataset and its wrapped dataset have a '
                'pipeline; give it to one of them (set pipeline=[] on the '
                'wrapped dataset, or leave the wrapper pipeline out).')
        if pipeline is not None and len(pipeline):
            self.pipeline = Compose(pipeline)
        else:
            self.pipeline = inner_pipeline or Compose([])
        self.class_texts: Optional[Tuple] = None
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo (used by the metrics)."""
        return copy.deepcopy(self.dataset.metainfo)

    @property
    def test_mode(self) -> bool:
        """Whether the wrapped dataset is in test mode."""
        return bool(getattr(self.dataset, 'test_mode', False))

    def full_init(self) -> None:
        """Initialise the wrapped dataset and read the class texts."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self.class_texts = self._load_class_texts()
        self._fully_initialized = True

    def _load_class_texts(self) -> Tuple:
        classes = self.dataset.metainfo.get('classes')
        if self.class_text_path is not None:
            texts = load_class_texts(self.class_text_path,
                                     classes=classes,
                                     backend_args=self.backend_args)
            return tuple(texts)
        if not classes:
            raise ValueError(
                f'{type(self.dataset).__name__} has no metainfo["classes"]; '
                'give MultiModalDataset a class_text_path.')
        texts = tuple(
            check_synonyms(name, f'class {i} of {type(self.dataset).__name__}'
                           )[0] for i, name in enumerate(classes))
        warn_vocabulary_conflicts(
            texts, f'The classes of {type(self.dataset).__name__}')
        return texts

    def __len__(self) -> int:
        return len(self.dataset)

    def get_data_info(self, idx: int) -> dict:
        """The wrapped sample's data info with the class texts as ``text``.

        Args:
            idx (int): Sample index.

        Returns:
            dict: The data info.
        """
        if not self._fully_initialized:
            self.full_init()
        data_info = self.dataset.get_data_info(idx)
        data_info['text'] = self.class_texts
        return data_info

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on sample ``idx``.

        Args:
            idx (int): Sample index.

        Returns:
            Any: The pipeline output (None when a transform dropped it).
        """
        return self.pipeline(self.get_data_info(idx))

    def __getitem__(self, idx: int) -> Any:
        if self.test_mode:
            data = self.prepare_data(idx)
            if data is None:
                raise RuntimeError(
                    f'The pipeline dropped test sample {idx}; test pipelines '
                    'must not filter samples.')
            return data
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))
        raise RuntimeError(
            f'The pipeline returned None for {self.max_refetch + 1} samples '
            'in a row; check the pipeline or raise max_refetch.')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(dataset='
                f'{type(self.dataset).__name__}, num_samples={len(self)}, '
                f'class_text_path={self.class_text_path!r})')
