"""GLIP / YOLO-World style negative sampling of a sample's vocabulary,
optionally with negatives from a large offline name list."""
import functools
import os.path as osp
import re
from typing import Dict, FrozenSet, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmvlm.registry import TRANSFORMS
from mmvlm.structures import (DATASET_NAME, Vocabulary, clean_class_name,
                              dataset_texts, is_prompts_file,
                              load_prompts_file)
from .random_state import TextRandomState

#: A large offline name list: the class names of LVIS (1,203), COCO (80)
#: and ADE20K (150), read from mmdet's / mmseg's dataset metainfo.
DEFAULT_NEGATIVE_POOL = ('mmdet.LVISV1Dataset', 'mmdet.CocoDataset',
                         'mmseg.ADE20KDataset')

#: Words that say nothing about a class (templates, articles): a pool name
#: is not excluded for sharing one of them with the vocabulary.
_FILLER_WORDS = frozenset(
    'a an the of and or in on at to for with by from this that is are '
    'photo picture image images one some its'.split())

#: What happens to pixels of classes that are not in the sampled vocabulary.
DROPPED_SEG_MODES = ('ignore', 'background')

#: Results keys aligned with the instances (one entry per box).
INSTANCE_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                 'gt_masks')


@TRANSFORMS.register_module()
class RandomSampleNegativeTexts(BaseTransform):
    """Sample a per-image vocabulary: all positives + random negatives.

    Runs after :class:`LoadClassTexts` (or any transform that sets
    ``text``) and after the geometric augmentations, right before
    ``PackDetInputs`` / ``PackSegInputs``. It

    1. keeps every *positive* entry: the classes of ``gt_bboxes_labels``
       (detection) and of the values of ``gt_seg_map`` other than
       ``ignore_index`` (segmentation), plus ``background_label``;
    2. adds up to ``num_negatives`` random other (valid) entries;
    3. shuffles them, then pads with ``''`` to ``max_num_texts``
       (``text_mask`` False for padding, padding only at the end);
    4. remaps the ground truth to the new order: box labels, and label-map
       values. Boxes (with their masks and ignore flags) of classes that
       did not fit into ``max_num_texts`` are removed; pixels of such
       classes become ``ignore_index`` or the background entry
       (``dropped_seg_label``);
    5. sets ``text_label_ids`` to the dataset class id of each entry
       (−1 for padding), so the model maps predictions back.

    Args:
        num_negatives (int | tuple[int, int]): Number of negatives to add,
            or a ``(min, max)`` range to draw it from uniformly. Fewer are
            added when fewer exist or ``max_num_texts`` is reached.
            Defaults to 80.
        max_num_texts (int, optional): Size of the vocabulary after
            sampling: positives beyond it are dropped at random, and
            padding fills up to it when ``pad_to_max``. None: no limit.
        pad_to_max (bool): Pad to ``max_num_texts`` so that every sample
            has the same vocabulary size. Defaults to True.
        dropped_seg_label (str): ``'ignore'`` maps pixels of dropped classes
            to ``ignore_index``; ``'background'`` maps them to the entry of
            ``background_label``. Defaults to ``'ignore'``.
        background_label (int, optional): Index (in the incoming ``text``)
            of the background class; always kept. Required for
            ``dropped_seg_label='background'``.
        ignore_index (int): Label-map value that is not a class. Defaults
            to 255.
        seed (int, optional): Seed of a private random generator; None uses
            numpy's global state, seeded by mmengine's ``randomness``.
        negative_pool (str | Sequence[str], optional): Extra negatives from
            outside the dataset, so that a model with few classes learns
            that other words name other things (a one-class model trained
            without them answers any prompt with the same objects). Each
            item is a registered dataset type (its class names, e.g.
            ``'mmdet.LVISV1Dataset'``), a prompts file (``.yaml`` /
            ``.yml`` / ``.json``: its prompts and synonyms), a ``.txt``
            file (one name per line) or a name. ``DEFAULT_NEGATIVE_POOL``
            is LVIS + COCO + ADE20K (1,400 names, offline). Pool names
            are cleaned (``'bow_(weapon)'`` → ``'bow'``) and enter the
            vocabulary as free-text entries (label id −1, no ground
            truth). A pool name is never sampled when it shares a word
            with an entry of the sample's vocabulary (``'tree'`` for
            ``'tree crown'``; plural ``s`` ignored) or is in
            ``pool_exclude``. None (default): no pool, as before.
        num_pool_negatives (int | tuple[int, int], optional): How many pool
            negatives to add per sample (or a ``(min, max)`` range), after
            the dataset's own negatives and within ``max_num_texts``.
            None: the same as ``num_negatives``.
        pool_exclude (str | Sequence[str]): Names never sampled from the
            pool (near-synonyms of your classes); a prompts file path adds
            its ``negatives.exclude`` list and all its words.
    """

    def __init__(self,
                 num_negatives: Union[int, Tuple[int, int]] = 80,
                 max_num_texts: Optional[int] = None,
                 pad_to_max: bool = True,
                 dropped_seg_label: str = 'ignore',
                 background_label: Optional[int] = None,
                 ignore_index: int = 255,
                 seed: Optional[int] = None,
                 negative_pool: Optional[Union[str, Sequence[str]]] = None,
                 num_pool_negatives: Optional[Union[int, Tuple[int,
                                                               int]]] = None,
                 pool_exclude: Union[str, Sequence[str]] = ()) -> None:
        num_negatives = _count_range(num_negatives, 'num_negatives')
        if max_num_texts is not None and max_num_texts < 1:
            raise ValueError(
                f'max_num_texts must be >= 1 or None, got {max_num_texts}.')
        if dropped_seg_label not in DROPPED_SEG_MODES:
            raise ValueError(
                f'dropped_seg_label must be one of {DROPPED_SEG_MODES}, '
                f'got {dropped_seg_label!r}.')
        if dropped_seg_label == 'background' and background_label is None:
            raise ValueError("dropped_seg_label='background' needs "
                             'background_label: the index of the background '
                             'class in the vocabulary.')
        self.num_negatives = tuple(int(n) for n in num_negatives)
        self.max_num_texts = max_num_texts
        self.pad_to_max = pad_to_max and max_num_texts is not None
        self.dropped_seg_label = dropped_seg_label
        self.background_label = background_label
        self.ignore_index = ignore_index
        self.random_state = TextRandomState(seed)
        self.negative_pool = negative_pool
        self.num_pool_negatives = _count_range(
            num_negatives if num_pool_negatives is None else
            num_pool_negatives, 'num_pool_negatives')
        self.pool_exclude = pool_exclude
        self._pool: Optional[Tuple[str, ...]] = None
        self._pool_words: Optional[Tuple[FrozenSet[str], ...]] = None
        self._excluded_words: FrozenSet[str] = frozenset()
        self._excluded_names: FrozenSet[str] = frozenset()
        self._candidates_cache: Dict[tuple, np.ndarray] = {}
        if negative_pool is not None:
            self._load_pool()

    # ------------------------------------------------------------ pool
    def _load_pool(self) -> None:
        """Read and clean the pool names (once)."""
        self._pool = load_negative_pool(self.negative_pool)
        self._pool_words = tuple(_words(n) for n in self._pool)
        excluded = []
        items = [self.pool_exclude] if isinstance(self.pool_exclude,
                                                  str) else self.pool_exclude
        for item in items:
            if is_prompts_file(item):
                prompts = load_prompts_file(item)
                excluded += list(prompts.negative_exclude) + list(
                    prompts.words)
            else:
                excluded.append(item)
        self._excluded_names = frozenset(n.lower() for n in excluded)
        self._excluded_words = frozenset().union(*(_words(n)
                                                   for n in excluded))

    def _pool_candidates(self, entries: Sequence) -> np.ndarray:
        """Indices of the pool names allowed next to a vocabulary."""
        key = tuple(entries)
        found = self._candidates_cache.get(key)
        if found is not None:
            return found
        used = set(self._excluded_words)
        for entry in entries:
            for name in ((entry, ) if isinstance(entry, str) else entry):
                used |= _words(name)
        names = {str(n).lower() for e in entries
                 for n in ((e, ) if isinstance(e, str) else e)}
        names |= self._excluded_names
        found = np.array([
            i for i, (name, words) in enumerate(
                zip(self._pool, self._pool_words))
            if not (words & used) and name.lower() not in names
        ], dtype=np.int64)
        if len(self._candidates_cache) >= 64:
            self._candidates_cache.clear()
        self._candidates_cache[key] = found
        return found

    def _add_pool(self, texts: tuple, label_ids: np.ndarray,
                  chosen: np.ndarray, valid: np.ndarray
                  ) -> Tuple[tuple, np.ndarray, np.ndarray]:
        """Append pool negatives to the chosen entries, shuffled together.

        Returns the extended texts and label ids and the new chosen
        indices (``>= len(texts)`` for pool names).
        """
        rs = self.random_state
        room = None
        if self.max_num_texts is not None:
            room = self.max_num_texts - len(chosen)
        wanted = rs.randint(*self.num_pool_negatives)
        if room is not None:
            wanted = min(wanted, room)
        entries = [t for t, v in zip(texts, valid) if v]
        candidates = self._pool_candidates(entries)
        picked = candidates[rs.permutation(len(candidates))[:max(wanted, 0)]]
        if not len(picked):
            return texts, label_ids, chosen
        extended = texts + tuple(self._pool[i] for i in picked)
        ids = np.concatenate(
            [label_ids, np.full(len(picked), -1, dtype=np.int64)])
        chosen = np.concatenate(
            [chosen, len(texts) + np.arange(len(picked), dtype=np.int64)])
        return extended, ids, chosen[rs.permutation(len(chosen))]

    def _positives(self, results: dict, num_texts: int) -> np.ndarray:
        """Indices of the incoming vocabulary that the ground truth uses."""
        found = []
        labels = results.get('gt_bboxes_labels')
        if labels is not None and len(labels):
            found.append(np.asarray(labels, dtype=np.int64).reshape(-1))
        seg_map = results.get('gt_seg_map')
        if seg_map is not None:
            if seg_map.dtype.kind == 'u':  # bincount: ~4x faster than unique
                values = np.flatnonzero(np.bincount(seg_map.ravel()))
            else:
                values = np.unique(seg_map)
            found.append(values[values != self.ignore_index].astype(np.int64))
        if self.background_label is not None:
            found.append(np.array([self.background_label], dtype=np.int64))
        if not found:
            return np.zeros(0, dtype=np.int64)
        positives = np.unique(np.concatenate(found))
        bad = positives[(positives < 0) | (positives >= num_texts)]
        if len(bad):
            raise ValueError(
                f'Ground-truth label(s) {bad.tolist()} do not index into the '
                f'sample vocabulary of {num_texts} entries; put '
                'LoadClassTexts (or a dataset that sets text) before '
                'RandomSampleNegativeTexts, and check ignore_index '
                f'(={self.ignore_index}).')
        return positives

    def _select(self, positives: np.ndarray,
                candidates: np.ndarray) -> np.ndarray:
        """Choose the kept positives and negatives, shuffled together."""
        rs = self.random_state
        limit = self.max_num_texts
        if limit is not None and len(positives) > limit:
            forced = positives[positives == self.background_label]
            others = positives[positives != self.background_label]
            keep = others[rs.permutation(len(others))[:limit - len(forced)]]
            positives = np.concatenate([forced, keep])
        room = len(candidates)
        if limit is not None:
            room = min(room, limit - len(positives))
        wanted = rs.randint(*self.num_negatives)
        negatives = candidates[rs.permutation(len(candidates))[:min(
            wanted, room)]]
        chosen = np.concatenate([positives, negatives]).astype(np.int64)
        return chosen[rs.permutation(len(chosen))]

    def _remap_instances(self, results: dict, lut: np.ndarray) -> None:
        labels = results.get('gt_bboxes_labels')
        if labels is None:
            return
        labels = np.asarray(labels, dtype=np.int64)
        new_labels = lut[labels] if len(labels) else labels
        keep = np.flatnonzero(new_labels >= 0)
        if len(keep) < len(labels):
            for key in INSTANCE_KEYS:
                if key in results and results[key] is not None:
                    results[key] = results[key][keep]
            new_labels = new_labels[keep]
        results['gt_bboxes_labels'] = new_labels.astype(np.int64)

    def _remap_seg_map(self, results: dict, lut: np.ndarray) -> None:
        seg_map = results.get('gt_seg_map')
        if seg_map is None:
            return
        if self.dropped_seg_label == 'background':
            dropped = lut[self.background_label]
        else:
            dropped = self.ignore_index
        size = max(int(seg_map.max()) + 1 if seg_map.size else 0,
                   self.ignore_index + 1, len(lut))
        table = np.full(size, dropped, dtype=np.int64)
        table[:len(lut)] = np.where(lut >= 0, lut, dropped)
        table[self.ignore_index] = self.ignore_index
        dtype = seg_map.dtype
        if np.issubdtype(dtype, np.integer) and int(
                table.max()) > np.iinfo(dtype).max:
            dtype = np.int32  # e.g. more than 255 entries for a uint8 map
        results['gt_seg_map'] = table[seg_map].astype(dtype)

    def transform(self, results: dict) -> dict:
        """Sample, shuffle, pad and remap.

        Args:
            results (dict): Result dict with ``text`` and ground truth.

        Returns:
            dict: ``results`` with the sampled ``text``, ``text_mask``,
            ``text_label_ids`` and remapped ``gt_bboxes_labels`` /
            ``gt_seg_map``.
        """
        texts = results.get('text')
        if texts is None or isinstance(texts, str):
            raise ValueError(
                'RandomSampleNegativeTexts needs a vocabulary (a list of '
                f"class names) in results['text'], got {texts!r}; put "
                'LoadClassTexts before it in the pipeline.')
        texts = tuple(texts)
        num_texts = len(texts)
        # the one reading of the text keys (lengths, padding, defaults)
        vocab = Vocabulary.from_metainfo(results)
        valid = np.asarray(vocab.mask, dtype=bool)
        label_ids = np.asarray(vocab.label_ids, dtype=np.int64)
        if (self.background_label is not None
                and not 0 <= self.background_label < num_texts):
            raise ValueError(
                f'background_label={self.background_label} is outside the '
                f'vocabulary of {num_texts} entries.')

        positives = self._positives(results, num_texts)
        is_candidate = valid.copy()
        is_candidate[positives] = False
        chosen = self._select(positives, np.flatnonzero(is_candidate))
        if self._pool is not None:
            texts, label_ids, chosen = self._add_pool(texts, label_ids,
                                                      chosen, valid)

        num_out = self.max_num_texts if self.pad_to_max else len(chosen)
        if 'gt_seg_map' in results and 0 <= self.ignore_index < num_out:
            raise ValueError(
                f'ignore_index={self.ignore_index} would collide with '
                f'vocabulary entry {self.ignore_index} of {num_out}; use an '
                'ignore_index >= max_num_texts (mmseg uses 255).')
        lut = np.full(len(texts), -1, dtype=np.int64)
        lut[chosen] = np.arange(len(chosen))
        lut = lut[:num_texts]  # the ground truth indexes the incoming text
        self._remap_instances(results, lut)
        self._remap_seg_map(results, lut)

        num_pad = (self.max_num_texts - len(chosen)) if self.pad_to_max else 0
        results['text'] = tuple(texts[i] for i in chosen) + ('', ) * num_pad
        results['text_mask'] = (True, ) * len(chosen) + (False, ) * num_pad
        results['text_label_ids'] = tuple(
            int(label_ids[i]) for i in chosen) + (-1, ) * num_pad
        results['custom_entities'] = True
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'num_negatives={self.num_negatives}, '
                f'max_num_texts={self.max_num_texts}, '
                f'pad_to_max={self.pad_to_max}, '
                f'dropped_seg_label={self.dropped_seg_label!r}, '
                f'background_label={self.background_label}, '
                f'ignore_index={self.ignore_index}, '
                f'seed={self.random_state.seed}, '
                f'negative_pool={self.negative_pool!r}, '
                f'num_pool_negatives={self.num_pool_negatives})')


def _count_range(value, name: str) -> Tuple[int, int]:
    """An int or a ``(min, max)`` pair as a checked ``(min, max)``."""
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not 0 <= value[0] <= value[1]):
        raise ValueError(
            f'{name} must be an int >= 0 or a (min, max) pair with '
            f'0 <= min <= max, got {value!r}.')
    return tuple(int(n) for n in value)


def _words(name: str) -> FrozenSet[str]:
    """Lower-case content words of a name, plural ``s`` dropped."""
    words = set()
    for word in re.findall(r'\w+', str(name).lower().replace('_', ' ')):
        if word in _FILLER_WORDS or word.isdigit():
            continue
        if len(word) > 3 and word.endswith('s') and not word.endswith('ss'):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def load_negative_pool(pool: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """The names of a negative pool, cleaned and without repeats.

    Args:
        pool (str | Sequence[str]): Registered dataset types (``'mmdet.
            LVISV1Dataset'``), prompts files, ``.txt`` files (one name per
            line) or names; see :class:`RandomSampleNegativeTexts`.

    Returns:
        tuple[str, ...]: The names, first occurrence kept (case-insensitive).
    """
    items = (pool, ) if isinstance(pool, str) else tuple(pool)
    return _load_pool_items(items)


@functools.lru_cache(maxsize=8)
def _load_pool_items(items: Tuple[str, ...]) -> Tuple[str, ...]:
    names = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(
                f'negative_pool item {item!r} must be a dataset type, a '
                'prompts / .txt file or a name (a non-empty string).')
        item = item.strip()
        if is_prompts_file(item):
            names += list(load_prompts_file(item).words)
        elif item.lower().endswith('.txt'):
            if not osp.isfile(item):
                raise FileNotFoundError(
                    f'negative_pool file {item!r} not found; give a text '
                    'file with one name per line.')
            with open(item, encoding='utf-8') as f:
                names += [line.strip() for line in f if line.strip()]
        elif DATASET_NAME.match(item):
            for entry in dataset_texts(item):
                names += [entry] if isinstance(entry, str) else list(entry)
        else:
            names.append(item)
    unique = {}
    for name in names:
        cleaned = clean_class_name(name)
        unique.setdefault(cleaned.lower(), cleaned)
    if not unique:
        raise ValueError(f'negative_pool {items!r} holds no names.')
    return tuple(unique.values())
