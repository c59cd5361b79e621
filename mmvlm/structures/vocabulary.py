"""The vocabulary: what a language-guided model scores, in one place.

Design notes: ``docs/design.md`` (module notes)."""
import importlib
import re
from collections import abc
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .prompt_checks import (VocabEntry, check_synonyms, warn_once,
                            warn_vocabulary_conflicts)
from .prompts_file import is_prompts_file, load_prompts_file

#: Every accepted spelling of a vocabulary (see :meth:`Vocabulary.parse`).
VocabularyLike = Union['Vocabulary', str, Sequence[Union[str, Sequence[str]]],
                       dict]

#: Suffixes of COCO-Stuff / COCO-Panoptic class names that only disambiguate
#: the annotation scheme ("wall-other-merged" is a wall). Stripped repeatedly
#: from the end of a name, in any order.
STUFF_SUFFIXES = ('-merged', '-other', '-stuff')

#: A plain string of this form names a registered dataset, any other plain
#: string is a list of prompts separated by full stops.
DATASET_NAME = re.compile(r'^(?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*Dataset$')

#: Codebases whose ``DATASETS`` registry may hold a named dataset.
_DATASET_SCOPES = ('mmdet', 'mmseg')

_PARENTHESES = re.compile(r'\(([^()]*)\)')
_SPACES = re.compile(r'\s+')


class MissingVocabularyError(RuntimeError, ValueError):
    """A model found no vocabulary for a batch (neither override, sample
    ``text``, configured vocabulary nor dataset classes)."""


# --------------------------------------------------------------- names
def clean_class_name(name: str, parentheses: str = 'drop') -> str:
    """Turn a raw dataset class name into plain words.

    ``'traffic_light'`` → ``'traffic light'``, ``'wall-other-merged'`` →
    ``'wall'``, ``'bow_(weapon)'`` → ``'bow'`` (or ``'bow weapon'`` with
    ``parentheses='keep'``). Case and non-ASCII characters are preserved.

    Args:
        name (str): The raw class name.
        parentheses (str): ``'drop'`` removes a parenthesised qualifier with
            its content (the LVIS / GLIP convention); ``'keep'`` keeps the
            words and drops only the brackets. Defaults to ``'drop'``.

    Returns:
        str: The cleaned name.
    """
    if not isinstance(name, str):
        raise TypeError(f'A class name must be a str, got {name!r} of type '
                        f'{type(name).__name__}.')
    if parentheses not in ('drop', 'keep'):
        raise ValueError(f"parentheses must be 'drop' or 'keep', got "
                         f'{parentheses!r}.')
    cleaned = name.replace('_', ' ')
    replacement = '' if parentheses == 'drop' else r' \1 '
    cleaned = _PARENTHESES.sub(replacement, cleaned)
    cleaned = _SPACES.sub(' ', cleaned).strip()
    stripped = True
    while stripped:
        stripped = False
        for suffix in STUFF_SUFFIXES:
            if cleaned.endswith(suffix) and len(cleaned) > len(suffix):
                cleaned = cleaned[:-len(suffix)].rstrip()
                stripped = True
    if not cleaned:
        # A name made only of a qualifier: keep the raw name's words.
        cleaned = _SPACES.sub(' ', re.sub(r'[_()]', ' ', name)).strip()
    if not cleaned:
        raise ValueError(f'Class name {name!r} is empty after cleaning; '
                         'give every class a non-empty name.')
    return cleaned


def normalize_vocabulary(
        texts: Sequence[VocabEntry],
        allow_padding: bool = False,
        require_valid: bool = True) -> Tuple[Tuple[str, ...], ...]:
    """Validate a vocabulary and turn every entry into a tuple of names.

    Args:
        texts (Sequence[str | Sequence[str]]): Class names; an entry may be a
            tuple of synonyms.
        allow_padding (bool): Accept ``''`` entries (padding of per-image
            vocabularies); they become ``()``.
        require_valid (bool): Refuse a vocabulary without any valid entry
            (False: one image of a batch may have an empty or all-padding
            vocabulary; the batch is checked as a whole).

    Returns:
        tuple[tuple[str, ...], ...]: One tuple of stripped names per entry.

    Raises:
        ValueError: Empty vocabulary, a bare string instead of a list,
            or a blank name (the message names its position).
    """
    if isinstance(texts, str):
        raise ValueError(
            f'A vocabulary is a list of class names, got the string '
            f'{texts!r}; write [{texts!r}] for a one-class vocabulary.')
    if texts is None or (len(texts) == 0 and require_valid):
        raise ValueError('The vocabulary is empty: give at least one class '
                         "name or prompt, e.g. texts=['person', 'car'].")
    entries = []
    for i, entry in enumerate(texts):
        if allow_padding and isinstance(entry, str) and entry == '':
            entries.append(())
            continue
        names = check_synonyms(entry, f'Vocabulary entry {i}')
        entries.append(tuple(n.strip() for n in names))
    if require_valid and all(len(e) == 0 for e in entries):
        raise ValueError('The vocabulary has only padding entries; give at '
                         'least one class name.')
    return tuple(entries)


# ------------------------------------------------------------- parsing
def split_prompts(prompts: str) -> List[str]:
    """``'a red car. a person.'`` → ``['a red car', 'a person']``.

    Args:
        prompts (str): Prompts separated by full stops.

    Returns:
        list[str]: The stripped, non-empty prompts.
    """
    return [p.strip() for p in prompts.split('.') if p.strip()]


def _entry_key(entry: VocabEntry):
    return entry.lower() if isinstance(entry, str) else tuple(s.lower()
                                                              for s in entry)


def deduplicate(entries: Sequence[VocabEntry],
                label_ids: Optional[Sequence[int]] = None,
                warn: bool = True) -> Tuple[List[VocabEntry], List[int]]:
    """Drop repeated entries (case-insensitive), keeping the first.

    Args:
        entries (Sequence): Vocabulary entries.
        label_ids (Sequence[int], optional): Label id of each entry; the
            entry index when None.
        warn (bool): Log one warning naming the repeated entries (once per
            distinct vocabulary, e.g. not on every image of a demo loop).

    Returns:
        tuple[list, list[int]]: Unique entries and their label ids.
    """
    if label_ids is None:
        label_ids = list(range(len(entries)))
    if len(label_ids) != len(entries):
        raise ValueError(f'{len(label_ids)} label ids for {len(entries)} '
                         'vocabulary entries; give one id per entry.')
    seen, unique, ids, repeated = set(), [], [], []
    for entry, label_id in zip(entries, label_ids):
        key = _entry_key(entry)
        if key in seen:
            repeated.append(entry)
            continue
        seen.add(key)
        unique.append(entry)
        ids.append(int(label_id))
    if repeated and warn:
        warn_once(
            tuple(_entry_key(e) for e in entries),
            f'Duplicate prompts {repeated} were removed from the '
            'vocabulary (each class needs one entry; the first occurrence '
            'is kept).')
    return unique, ids


def dataset_texts(name: str) -> List[VocabEntry]:
    """The vocabulary of a registered dataset class.

    The dataset's ``METAINFO['prompts']`` (synonyms / prompts per class) if
    it has them, else its ``METAINFO['classes']``. The name is looked up in
    the ``DATASETS`` registry of the current default scope first, then of
    every installed codebase (mmdet, mmseg); ``'mmseg.ADE20KDataset'``
    names the codebase explicitly.

    Args:
        name (str): Registered dataset type, e.g. ``'LVISV1Dataset'``.

    Returns:
        list: One entry per class, in class-id order.
    """
    scope, _, bare = name.rpartition('.')
    scopes = [scope] if scope else _lookup_scopes()
    for codebase in scopes:
        try:
            registry = importlib.import_module(f'{codebase}.registry')
        except ModuleNotFoundError as err:
            if err.name in (codebase, f'{codebase}.registry'):
                continue  # not installed: try the next codebase
            raise ImportError(
                f'Looking up the dataset {name!r}: {codebase} is installed '
                f'but importing {codebase}.registry failed ({err}); repair '
                f'the {codebase} installation (or its dependency '
                f'{err.name!r}).') from err
        except ImportError as err:
            raise ImportError(
                f'Looking up the dataset {name!r}: {codebase} is installed '
                f'but importing {codebase}.registry failed ({err}); repair '
                f'the {codebase} installation.') from err
        dataset_cls = registry.DATASETS.get(bare)
        if dataset_cls is None:
            continue
        metainfo = getattr(dataset_cls, 'METAINFO', {}) or {}
        texts = metainfo.get('prompts') or metainfo.get('classes')
        if not texts:
            raise ValueError(
                f'{name}.METAINFO has no classes to use as a vocabulary; '
                'give the class names as a list instead.')
        return [t if isinstance(t, str) else tuple(t) for t in texts]
    raise KeyError(
        f'vocabulary={name!r} names no dataset registered in the DATASETS '
        f'of {" / ".join(scopes)}: import mmvlm (and the codebase), check '
        'the spelling, or give the class names as a list.')


def _lookup_scopes() -> List[str]:
    """Codebases to look a dataset name up in, default scope first."""
    from mmengine.registry import DefaultScope
    current = DefaultScope.get_current_instance()
    first = [current.scope_name] if current is not None and \
        current.scope_name in _DATASET_SCOPES else []
    return first + [s for s in _DATASET_SCOPES if s not in first]


# ---------------------------------------------------------- vocabulary
class Vocabulary(abc.Sequence):
    """The entries a model scores, their validity and dataset label ids.

    A :class:`Vocabulary` is an immutable sequence of entries (so
    ``len(v)``, ``v[i]``, iteration and ``v == ['cat', 'dog']`` work as on
    the list of entries) with two parallel tuples:

    - ``mask``: False for padding entries (``''``);
    - ``label_ids``: the dataset class id of each entry, ``-1`` for padding
      and for free-text prompts without a dataset class.

    Build one with :meth:`parse` (user spellings) or :meth:`from_metainfo`
    (a data sample's keys).

    Args:
        entries (Sequence[str | Sequence[str]]): The entries; a synonym list
            becomes a tuple, names are stripped, ``''`` is padding.
        mask (Sequence[bool], optional): Validity of each entry. Defaults to
            ``entry != ''``.
        label_ids (Sequence[int], optional): Dataset label id of each entry.
            Defaults to the entry index; padding entries get ``-1``.
        where (str): What the vocabulary is, for error messages.
    """

    def __init__(self,
                 entries: Sequence[Union[str, Sequence[str]]],
                 mask: Optional[Sequence[bool]] = None,
                 label_ids: Optional[Sequence[int]] = None,
                 where: str = 'The vocabulary') -> None:
        if isinstance(entries, str):
            raise ValueError(
                f'A vocabulary is a list of class names, got the string '
                f'{entries!r}; write [{entries!r}] for a one-class '
                'vocabulary.')
        cleaned = []
        for i, entry in enumerate(entries):
            if isinstance(entry, str) and entry == '':
                cleaned.append('')
                continue
            names = tuple(
                n.strip()
                for n in check_synonyms(entry, f'Vocabulary entry {i}'))
            cleaned.append(names[0] if isinstance(entry, str) else names)
        entries = tuple(cleaned)
        if mask is None:
            mask = tuple(e != '' for e in entries)
        mask = tuple(bool(m) for m in mask)
        if label_ids is None:
            label_ids = tuple(range(len(entries)))
        label_ids = tuple(int(i) for i in label_ids)
        if not len(mask) == len(label_ids) == len(entries):
            raise ValueError(
                f'{where}: text has {len(entries)} entries but text_mask '
                f'has {len(mask)} and text_label_ids {len(label_ids)}; they '
                'must have one value per entry.')
        for entry, valid in zip(entries, mask):
            if valid and entry == '':
                raise ValueError(
                    f'{where}: a padding entry (\'\') is marked valid in '
                    'text_mask; set its mask to False.')
        self._entries = entries
        self._mask = mask
        self._label_ids = tuple(i if m else -1
                                for i, m in zip(label_ids, mask))

    # ------------------------------------------------------------ parse
    @classmethod
    def parse(cls,
              spec: VocabularyLike,
              label_ids: Optional[Sequence[int]] = None,
              warn_duplicates: bool = True) -> 'Vocabulary':
        """Read every accepted spelling of a vocabulary.

        The same spellings mean the same thing for detectors and
        segmentors (config ``vocabulary=``, ``set_vocabulary``, APIs):

        - a :class:`Vocabulary`: itself (label ids replaced if given);
        - a list / tuple of entries; an entry is a name or a tuple / list of
          synonyms. Label ids ``0..K-1`` unless ``label_ids`` is given;
        - a plain string that is a dataset type name (an identifier ending
          in ``Dataset``, optionally scoped: ``'ADE20KDataset'``,
          ``'mmdet.LVISV1Dataset'``): the registered dataset's
          ``METAINFO['prompts']`` or ``METAINFO['classes']``, label ids
          ``0..K-1``; an unknown name is a ``KeyError``;
        - a path ending in ``.yaml`` / ``.yml`` / ``.json``: a prompts
          file (:meth:`from_file`), one entry per class in file order;
        - any other plain string: prompts separated by full stops
          (``'a red car. a person'``); empty pieces are dropped;
        - ``dict(texts=... | dataset=..., label_ids=None)``: with a dataset
          and ``label_ids``, the subset of the dataset's classes with those
          ids (e.g. the seen classes of an open-vocabulary split); with
          ``texts``, the dataset class id of each text.

        Repeated entries (case-insensitive) are dropped with one warning,
        keeping the first and its label id; a synonym shared by two entries
        is flagged with :func:`warn_vocabulary_conflicts`. Names with
        control characters or without a visible character are refused.

        Args:
            spec (Vocabulary | str | Sequence | dict): The vocabulary.
            label_ids (Sequence[int], optional): Dataset label id of each
                entry (not with a dict, which has its own ``label_ids``).
            warn_duplicates (bool): Warn about dropped duplicates.

        Returns:
            Vocabulary: A vocabulary with at least one (valid) entry.
        """
        if isinstance(spec, Vocabulary):
            if label_ids is None:
                return spec
            return cls(spec.entries, spec.mask, label_ids)
        if isinstance(spec, dict):
            if label_ids is not None:
                raise ValueError(
                    'Give label ids either inside the vocabulary dict '
                    '(label_ids=...) or as the label_ids argument, not both.')
            entries, label_ids = cls._parse_dict(spec)
        elif isinstance(spec, str):
            if is_prompts_file(spec):
                vocab = cls.from_file(spec.strip())
                return vocab if label_ids is None else cls(
                    vocab.entries, vocab.mask, label_ids)
            if DATASET_NAME.match(spec.strip()):
                entries = dataset_texts(spec.strip())
            else:
                entries = split_prompts(spec)
        elif isinstance(spec, (list, tuple)):
            entries = list(spec)
        else:
            raise TypeError(
                'A vocabulary is a list of class names (an entry may be a '
                "tuple of synonyms), prompts separated by full stops ('a "
                "cat. a dog'), a dataset name ('ADE20KDataset') or a dict "
                f'(texts= / dataset=, label_ids=); got {type(spec).__name__}:'
                f' {spec!r}.')
        if len(entries) == 0:
            raise ValueError(
                f'The vocabulary {spec!r} is empty (zero prompts): give at '
                "least one class name or prompt, e.g. 'a red car. a "
                "person' or ['person', 'car'].")
        if label_ids is not None and len(label_ids) != len(entries):
            raise ValueError(
                f'{len(label_ids)} label_ids for {len(entries)} vocabulary '
                'entries (prompts); give one label id per entry.')
        checked = [
            check_synonyms(e, f'Vocabulary entry {i}')
            for i, e in enumerate(entries)
        ]
        entries = [
            e.strip() if isinstance(e, str) else tuple(n.strip() for n in c)
            for e, c in zip(entries, checked)
        ]
        first: Dict[object, int] = {}
        for i, entry in enumerate(entries):
            first.setdefault(_entry_key(entry), i)
        entries, ids = deduplicate(entries, label_ids, warn=warn_duplicates)
        if warn_duplicates:  # the kept entries, by the user's positions
            warn_vocabulary_conflicts(entries,
                                      'The vocabulary',
                                      positions=list(first.values()))
        return cls(entries, label_ids=ids)

    @classmethod
    def from_file(cls,
                  path: str,
                  classes: Optional[Sequence[str]] = None,
                  where: str = 'the dataset') -> 'Vocabulary':
        """Read a prompts file: names, synonyms and templates per class.

        The same file is read by the configs (pipelines, dataset
        ``metainfo``) and by the inference tools, so that training and
        querying use the same words. Format: see
        :mod:`mmvlm.structures.prompts_file`. Each class is one entry: its
        prompt and synonyms (filled into its templates) share its label
        id.

        Args:
            path (str): The YAML / JSON file.
            classes (Sequence[str], optional): The dataset's class names.
                When given, the file must name exactly these classes
                (:class:`PromptsFileMismatchError` names the missing and
                extra ones and the fix) and the entries follow their order.
            where (str): What ``classes`` are, for the error message.

        Returns:
            Vocabulary: One entry per class.
        """
        prompts_file = load_prompts_file(path)
        return cls(prompts_file.ordered_entries(classes, where))

    @staticmethod
    def _parse_dict(spec: dict) -> Tuple[list, Optional[List[int]]]:
        unknown = set(spec) - {'texts', 'dataset', 'label_ids'}
        if unknown or ('texts' in spec) == ('dataset' in spec):
            raise ValueError(
                'A vocabulary dict takes exactly one of `texts` / `dataset` '
                '(a registered dataset type, e.g. LVISV1Dataset) and '
                f'optionally `label_ids`; got keys {sorted(spec)}.')
        label_ids = spec.get('label_ids')
        if label_ids is not None:
            label_ids = [int(i) for i in label_ids]
        if 'texts' in spec:
            texts = spec['texts']
            if isinstance(texts, str):
                texts = split_prompts(texts)
            return list(texts), label_ids
        texts = dataset_texts(spec['dataset'])
        if label_ids is None:
            return texts, None
        for i in label_ids:
            if not 0 <= i < len(texts):
                raise ValueError(f'label id {i} is not a class of '
                                 f'{spec["dataset"]} (0..{len(texts) - 1}).')
        return [texts[i] for i in label_ids], label_ids

    @classmethod
    def from_metainfo(cls,
                      metainfo: dict,
                      require_valid: bool = False) -> 'Vocabulary':
        """The vocabulary a data sample carries (``docs/design.md`` §2).

        Args:
            metainfo (dict): Sample metainfo with ``text`` (a sequence of
                entries, ``''`` padding; a string is split at full stops),
                optional ``text_mask`` and ``text_label_ids``.
            require_valid (bool): Refuse an all-padding vocabulary (an image
                of a detection batch may have one: it has no class).

        Returns:
            Vocabulary: The sample's vocabulary; padding entries are kept
            (masked) so that ground-truth labels keep indexing ``text``.
        """
        name = image_name(metainfo)
        text = metainfo['text']
        if isinstance(text, str):
            text = split_prompts(text)
        if len(text) == 0:
            raise ValueError(
                f'Image {name} has an empty vocabulary (metainfo "text"); '
                'give at least one class.')
        vocab = cls(list(text),
                    metainfo.get('text_mask'),
                    metainfo.get('text_label_ids'),
                    where=f'Image {name}')
        if require_valid and not any(vocab.mask):
            raise ValueError(
                f'Image {name} has an empty vocabulary (no valid `text` '
                'entry, all padding); give at least one class.')
        return vocab

    # -------------------------------------------------------- accessors
    @property
    def entries(self) -> Tuple[VocabEntry, ...]:
        """The entries (padding ``''`` included)."""
        return self._entries

    @property
    def mask(self) -> Tuple[bool, ...]:
        """False for padding entries."""
        return self._mask

    @property
    def label_ids(self) -> Tuple[int, ...]:
        """Dataset label id of each entry (``-1``: padding / free text)."""
        return self._label_ids

    @property
    def names(self) -> Tuple[str, ...]:
        """A display name per entry: the first synonym (``''`` padding)."""
        return tuple(e if isinstance(e, str) else e[0] for e in self._entries)

    @property
    def num_valid(self) -> int:
        """Number of non-padding entries."""
        return sum(self._mask)

    @property
    def is_identity(self) -> bool:
        """Whether entry ``i`` has label id ``i`` for every entry."""
        return self._label_ids == tuple(range(len(self._entries)))

    def synonyms(self) -> Tuple[Tuple[str, ...], ...]:
        """Entries as tuples of names, padding as ``()``."""
        return normalize_vocabulary(self._entries,
                                    allow_padding=True,
                                    require_valid=False)

    def map_labels(self, labels: Tensor, fill: Optional[int] = None) -> Tensor:
        """Map vocabulary indices to dataset label ids.

        Args:
            labels (Tensor): Vocabulary indices (any shape).
            fill (int, optional): Value for entries without a dataset id
                (``-1``); None keeps the vocabulary index (free-text
                prompts).

        Returns:
            Tensor: Dataset label ids, same shape (long).
        """
        if labels.numel() == 0:
            return labels
        ids = torch.tensor(self._label_ids,
                           dtype=torch.long,
                           device=labels.device)
        index = labels.long().clamp(0, len(ids) - 1)
        mapped = ids[index]
        other = index if fill is None else torch.full_like(mapped, fill)
        return torch.where(mapped >= 0, mapped, other)

    # --------------------------------------------------------- sequence
    def __getitem__(self, index):
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[VocabEntry]:
        return iter(self._entries)

    def __eq__(self, other) -> bool:
        if isinstance(other, Vocabulary):
            return (self._entries, self._mask,
                    self._label_ids) == (other._entries, other._mask,
                                         other._label_ids)
        if isinstance(other, (list, tuple)):
            return list(self._entries) == [
                o if isinstance(o, str) else tuple(o) for o in other
            ]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._entries, self._mask, self._label_ids))

    def __repr__(self) -> str:
        shown = list(self._entries[:8])
        more = f', ... ({len(self)} entries)' if len(self) > 8 else ''
        ids = '' if self.is_identity else f', label_ids={self._label_ids}'
        return f'Vocabulary({shown}{more}{ids})'


def image_name(metainfo: dict) -> str:
    """How error messages name an image: its path, id, or '(unnamed)'."""
    for key in ('img_path', 'img_id'):
        if metainfo.get(key) is not None:
            return repr(metainfo[key])
    return '(unnamed image)'


def split_batch_texts(
        texts: Sequence,
        batch_size: int,
        per_image: Optional[bool] = None) -> Tuple[bool, List[Sequence]]:
    """Tell a vocabulary shared by a batch from per-image ones.

    A batch of per-image vocabularies is a sequence of ``batch_size``
    sequences (``[vocab_0, vocab_1, ...]``); anything else is one
    vocabulary shared by the batch. A shared vocabulary whose entries are
    all synonym tuples and whose length equals the batch size is
    ambiguous: pass ``per_image=False`` for it.

    Args:
        texts (Sequence): The vocabulary / vocabularies.
        batch_size (int): Number of images.
        per_image (bool, optional): Force the interpretation.

    Returns:
        tuple[bool, list]: Whether vocabularies are per image, and the
        list of vocabularies (one element when shared).
    """
    if isinstance(texts, str) or texts is None:
        raise ValueError(
            'texts must be a list of class names (shared vocabulary) or '
            f'a list of such lists (one per image), got {texts!r}.')
    if per_image is None:
        per_image = len(texts) == batch_size and len(texts) > 0 and all(
            isinstance(v, (list, tuple)) for v in texts)
    if not per_image:
        return False, [texts]
    if len(texts) != batch_size:
        raise ValueError(f'{len(texts)} per-image vocabularies for a batch '
                         f'of {batch_size} images.')
    return True, list(texts)


# --------------------------------------------------------------- batch
class BatchVocabulary:
    """The vocabulary of every image of a batch.

    Args:
        vocabularies (Sequence[Vocabulary]): One per image.
        source (str): Where it came from: ``'override'``,
            ``'data_samples'``, ``'model'`` or ``'dataset_meta'``.
    """

    def __init__(self, vocabularies: Sequence[Vocabulary],
                 source: str) -> None:
        if not vocabularies:
            raise ValueError('A batch vocabulary needs at least one image.')
        self.vocabularies = list(vocabularies)
        self.source = source

    @property
    def from_samples(self) -> bool:
        """Whether the vocabularies are the samples' own ``text``."""
        return self.source == 'data_samples'

    @property
    def shared(self) -> bool:
        """Whether all images have the same entries and mask."""
        first = self.vocabularies[0]
        return all(v.entries == first.entries and v.mask == first.mask
                   for v in self.vocabularies[1:])

    @property
    def num_entries(self) -> int:
        """The largest vocabulary size ``K`` in the batch."""
        return max(len(v) for v in self.vocabularies)

    @property
    def texts(self) -> List[List[VocabEntry]]:
        """Entries of each image."""
        return [list(v.entries) for v in self.vocabularies]

    @property
    def masks(self) -> List[List[bool]]:
        """Validity of each image's entries."""
        return [list(v.mask) for v in self.vocabularies]

    @property
    def label_ids(self) -> List[List[int]]:
        """Dataset label ids of each image's entries."""
        return [list(v.label_ids) for v in self.vocabularies]

    def neck_texts(self) -> list:
        """Texts in the neck's format: one shared list, or one per image."""
        if self.shared:
            return list(self.vocabularies[0].entries)
        return [list(v.entries) for v in self.vocabularies]

    def mask_tensor(self, num_entries: int, device=None) -> Tensor:
        """``[B, num_entries]`` bool validity, padded with False."""
        mask = torch.zeros(len(self.vocabularies),
                           num_entries,
                           dtype=torch.bool,
                           device=device)
        for i, v in enumerate(self.vocabularies):
            mask[i, :len(v)] = torch.tensor(v.mask, dtype=torch.bool)
        return mask

    def map_labels(self,
                   image_index: int,
                   labels: Tensor,
                   fill: Optional[int] = None) -> Tensor:
        """:meth:`Vocabulary.map_labels` of image ``image_index``."""
        return self.vocabularies[image_index].map_labels(labels, fill)


def select_batch_vocabulary(metainfos: Sequence[dict],
                            num_images: int,
                            *,
                            training: bool,
                            override: Optional[Vocabulary] = None,
                            configured: Optional[Vocabulary] = None,
                            dataset_classes: Optional[Sequence] = None,
                            use_samples: bool = True,
                            require_valid: bool = False,
                            owner: str = 'The model') -> BatchVocabulary:
    """The one precedence rule: which vocabulary a batch is scored against.

    1. At inference, the run-time override (``model.set_vocabulary``, the
       APIs' prompts) always wins, also over the samples' ``text`` that a
       test pipeline's ``LoadClassTexts`` fills with the dataset classes.
       In training it is not used: gt labels index the sample's ``text`` /
       the training vocabulary.
    2. The samples' metainfo ``text`` (+ ``text_mask``,
       ``text_label_ids``).
    3. The configured vocabulary (``train_vocabulary`` in training when the
       model has one, else ``vocabulary``).
    4. ``dataset_meta['classes']``.

    Args:
        metainfos (Sequence[dict]): Metainfo of each sample (may be empty).
        num_images (int): Batch size.
        training (bool): Whether the batch is a training batch.
        override (Vocabulary, optional): The run-time override.
        configured (Vocabulary, optional): The configured vocabulary.
        dataset_classes (Sequence, optional): ``dataset_meta['classes']``.
        use_samples (bool): Read the samples' ``text`` (False for a model
            with a baked vocabulary).
        require_valid (bool): Refuse an image whose vocabulary is only
            padding.
        owner (str): Model name for the error message.

    Returns:
        BatchVocabulary: One vocabulary per image and where it came from.
    """
    if override is not None and not training:
        return BatchVocabulary([override] * num_images, 'override')
    metainfos = list(metainfos or [])
    with_text = ['text' in meta for meta in metainfos]
    if use_samples and any(with_text):
        if not all(with_text):
            raise ValueError(
                'Some data samples of the batch carry a vocabulary '
                '(metainfo "text") and some do not; add "text" to the '
                'PackDetInputs / PackSegInputs meta_keys and give every '
                'dataset its class texts (return_classes=True, or '
                'LoadClassTexts in the pipeline).')
        return BatchVocabulary([
            Vocabulary.from_metainfo(meta, require_valid) for meta in metainfos
        ], 'data_samples')
    if configured is not None:
        return BatchVocabulary([configured] * num_images, 'model')
    if dataset_classes:
        vocab = _dataset_meta_vocabulary(tuple(dataset_classes))
        return BatchVocabulary([vocab] * num_images, 'dataset_meta')
    raise MissingVocabularyError(
        f'{owner} has no vocabulary: the data samples carry no "text" '
        'metainfo (set return_classes=True on an mmdet dataset or put '
        'LoadClassTexts in the pipeline, and add "text", "text_mask", '
        '"text_label_ids", "custom_entities" to the PackDetInputs / '
        'PackSegInputs meta_keys), no model.vocabulary=[...] is configured '
        "(class names, or a dataset name such as 'ADE20KDataset'; for an "
        "mmpretrain classifier set vocabulary= in the classifier config, "
        "e.g. vocabulary='ImageNet') and no prompts were set "
        '(model.set_vocabulary("a cat. a dog")).')


_DATASET_META_CACHE: Dict[tuple, Vocabulary] = {}


def _dataset_meta_vocabulary(classes: tuple) -> Vocabulary:
    """``dataset_meta['classes']`` as a vocabulary (cached per class list)."""
    vocab = _DATASET_META_CACHE.get(classes)
    if vocab is None:
        if len(_DATASET_META_CACHE) >= 16:
            _DATASET_META_CACHE.clear()
        vocab = Vocabulary.parse(list(classes))
        _DATASET_META_CACHE[classes] = vocab
    return vocab
