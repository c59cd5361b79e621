"""A segmentation dataset whose label-map values name classes through a
list, so one set of label maps serves every split and vocabulary."""
from typing import Dict, List, Optional, Sequence

from mmseg.datasets import BaseSegDataset

from mmvlm.registry import SEG_DATASETS

#: What pixels of a name outside the dataset's classes become.
UNLISTED_MODES = ('ignore', 'background')


@SEG_DATASETS.register_module()
class NamedLabelMapDataset(BaseSegDataset):
    """Image / label-map folders whose values are indices into a name list.

    A label map stores value ``v`` for the name ``value_names[v]`` (any bit
    depth: 16-bit PNGs hold up to 65,535 names). The dataset's classes
    (``metainfo['classes']``) may be any subset of those names in any
    order; every sample gets a ``label_map`` (value -> class index) that
    :class:`LoadWideSegMap` applies. So a split's test set asks its own
    names (e.g. only the held-out ones) over the same files.

    Args:
        value_names (Sequence[str]): The name of every label-map value,
            value 0 first (usually the background's name).
        unlisted (str): Pixels whose name is not among the classes become
            ``'ignore'`` (``ignore_index``) or ``'background'`` (the class
            named ``value_names[0]``). Defaults to ``'ignore'``.
        ignore_index (int): Value of ignored pixels after mapping; must not
            be a class index. Defaults to 255.
        img_suffix (str): Image suffix. Defaults to ``'.jpg'``.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.
        **kwargs: Arguments of :class:`mmseg.datasets.BaseSegDataset`
            (``data_root``, ``data_prefix``, ``metainfo``, ``pipeline``).

    Raises:
        ValueError: No classes, a class that is no value's name, a bad
            ``unlisted``, or ``ignore_index`` equal to a class index.
    """
    METAINFO: dict = dict()

    def __init__(self,
                 value_names: Sequence[str],
                 unlisted: str = 'ignore',
                 ignore_index: int = 255,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        if unlisted not in UNLISTED_MODES:
            raise ValueError(f'unlisted={unlisted!r}: use one of '
                             f'{UNLISTED_MODES}.')
        self.value_names = tuple(value_names)
        self.unlisted = unlisted
        self.ignore_index = int(ignore_index)
        self._named_label_map: Optional[Dict[int, int]] = None
        super().__init__(img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         ignore_index=ignore_index,
                         **kwargs)

    def named_label_map(self) -> Dict[int, int]:
        """Label-map value -> class index (or ``ignore_index``).

        Returns:
            dict[int, int]: One entry per value of ``value_names``.
        """
        if self._named_label_map is not None:
            return self._named_label_map
        classes = list(self.metainfo.get('classes') or ())
        if not classes:
            raise ValueError(
                'NamedLabelMapDataset needs metainfo=dict(classes=...): '
                'the names (a subset of value_names) the split asks.')
        index = {name: i for i, name in enumerate(classes)}
        missing = [c for c in classes if c not in set(self.value_names)]
        if missing:
            raise ValueError(
                f'Classes {missing[:5]} are not names of any label-map '
                f'value ({len(self.value_names)} value_names): fix the '
                'class names or value_names.')
        if 0 <= self.ignore_index < len(classes):
            raise ValueError(
                f'ignore_index={self.ignore_index} is the index of class '
                f'{classes[self.ignore_index]!r} ({len(classes)} classes): '
                'set ignore_index to a value above the class count, e.g. '
                '65535, here and in the head and metric.')
        background = index.get(self.value_names[0])
        if self.unlisted == 'background' and background is None:
            raise ValueError(
                f"unlisted='background' needs the class "
                f'{self.value_names[0]!r} (value 0) among the classes.')
        fallback = (background if self.unlisted == 'background' else
                    self.ignore_index)
        self._named_label_map = {
            v: index.get(name, fallback)
            for v, name in enumerate(self.value_names)
        }
        return self._named_label_map

    def load_data_list(self) -> List[dict]:
        """The samples of the folders, each with the named label map.

        Returns:
            list[dict]: mmseg data infos with ``label_map`` set.
        """
        data_list = super().load_data_list()
        label_map = self.named_label_map()
        for info in data_list:
            info['label_map'] = label_map
        return data_list
