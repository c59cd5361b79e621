"""Attach the dataset's class names (the vocabulary) to every sample."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmcv.transforms import BaseTransform

from mmvlm.registry import TRANSFORMS
from mmvlm.structures import (VocabEntry, check_synonyms, clean_class_name,
                              expand_prompts, normalize_templates,
                              warn_vocabulary_conflicts)
from ..class_texts import load_class_texts
from .random_state import TextRandomState

SYNONYM_MODES = ('all', 'first', 'random')

#: Distinct class lists whose cleaned form is kept (datasets have one).
MAX_CACHED_VOCABULARIES = 64


@TRANSFORMS.register_module()
class LoadClassTexts(BaseTransform):
    """Put the dataset's class vocabulary into ``results['text']``.

    Where the class names come from, first match wins:

    1. ``class_text_path`` (a YOLO-World class-text file: a json list of
       synonym lists, one per class), checked against the dataset's class
       list when the sample carries one;
    2. ``results['text']`` when it is a list of class names or synonym
       lists: mmdet datasets built with ``return_classes=True`` put their
       classes there, and :class:`MultiModalDataset` puts its class texts
       there for any mmdet / mmseg dataset (a ``{"0": name, ...}`` label
       map, as from mmdet's ``ODVGDataset``, is read in id order);
    3. the ``classes`` argument.

    Transforms cannot see their dataset, so for mmseg datasets (which do not
    put classes into samples) use (1), (3) or the wrapper.

    Each name is cleaned (:func:`clean_class_name`), synonyms are chosen by
    ``synonym_mode`` and filled into the prompt ``templates``. A class whose
    prompts are several becomes a tuple entry (averaged into one embedding
    by the model). The transform sets the keys of ``docs/design.md`` §2:

    - ``text`` (tuple): one entry per dataset class, in class-id order, so
      ``gt_bboxes_labels`` / ``gt_seg_map`` index into it unchanged.
    - ``text_mask`` (tuple[bool]): all True.
    - ``text_label_ids`` (tuple[int]): ``0 .. K-1``.
    - ``custom_entities`` (bool): True.

    Args:
        classes (Sequence[str | Sequence[str]], optional): Class names (or
            synonym lists) used when neither the file nor the sample gives
            them.
        class_text_path (str, optional): Path of a class-text json file.
        templates (Sequence[str], optional): Prompt templates with one
            ``{}``, e.g. ``['a photo of a {}.']`` (checked and expanded by
            :mod:`mmvlm.structures.vocabulary`, as the text encoder's). None
            keeps bare names (the model may add its own templates).
        synonym_mode (str): ``'all'`` keeps every synonym (averaged by the
            model), ``'first'`` the first one, ``'random'`` one random
            synonym per class and sample (a training augmentation).
            Defaults to ``'all'``.
        clean_names (bool): Clean names with :func:`clean_class_name`.
            Defaults to True.
        parentheses (str): How cleaning treats parenthesised qualifiers,
            ``'drop'`` or ``'keep'``. Defaults to ``'drop'``.
        seed (int, optional): Seed for ``synonym_mode='random'``; None uses
            numpy's global state seeded by mmengine.
        backend_args (dict, optional): mmengine file-backend arguments for
            reading ``class_text_path``.
    """

    def __init__(self,
                 classes: Optional[Sequence] = None,
                 class_text_path: Optional[str] = None,
                 templates: Optional[Sequence[str]] = None,
                 synonym_mode: str = 'all',
                 clean_names: bool = True,
                 parentheses: str = 'drop',
                 seed: Optional[int] = None,
                 backend_args: Optional[dict] = None) -> None:
        if synonym_mode not in SYNONYM_MODES:
            raise ValueError(f'synonym_mode must be one of {SYNONYM_MODES}, '
                             f'got {synonym_mode!r}.')
        if parentheses not in ('drop', 'keep'):
            raise ValueError("parentheses must be 'drop' or 'keep', got "
                             f'{parentheses!r}.')
        if isinstance(classes, str):
            raise TypeError('classes must be a sequence of class names, got '
                            f'the single string {classes!r}.')
        self.templates = normalize_templates(templates)
        self.synonym_mode = synonym_mode
        self.clean_names = clean_names
        self.parentheses = parentheses
        self.class_text_path = class_text_path
        self.random_state = TextRandomState(seed)
        self._file_texts: Optional[List[Tuple[str, ...]]] = None
        if class_text_path is not None:
            self._file_texts = self._prepare(
                load_class_texts(class_text_path,
                                 classes=classes,
                                 backend_args=backend_args),
                f'Class-text file {class_text_path!r}')
        self._arg_texts: Optional[List[Tuple[str, ...]]] = None
        if classes is not None:
            self._arg_texts = self._prepare(
                classes, 'The classes argument of LoadClassTexts')
        self._cache: Dict[tuple, List[Tuple[str, ...]]] = {}
        self._last_raw: Optional[tuple] = None
        # Final entries per prepared vocabulary (not for random synonyms).
        self._entries: Dict[int, tuple] = {}

    def _prepare(self, raw: Sequence, where: str) -> List[Tuple[str, ...]]:
        """Validate and clean the synonyms of every class, and flag classes
        the model cannot tell apart (:func:`warn_vocabulary_conflicts`:
        case-only duplicates, a synonym shared by two classes).

        Args:
            raw (Sequence[str | Sequence[str]]): Per class its name or
                synonyms.
            where (str): The source of the names, for the warning.

        Returns:
            list[tuple[str, ...]]: Per class its (cleaned) synonyms.
        """
        prepared = []
        for i, entry in enumerate(raw):
            synonyms = check_synonyms(entry, f'class {i}')
            if self.clean_names:
                synonyms = tuple(
                    dict.fromkeys(
                        clean_class_name(s, self.parentheses)
                        for s in synonyms))
            prepared.append(synonyms)
        if not prepared:
            raise ValueError('The class vocabulary is empty; give at least '
                             'one class.')
        warn_vocabulary_conflicts(prepared, where)
        return prepared

    def _sample_texts(self, results: dict) -> Optional[List[Tuple[str, ...]]]:
        """The cleaned class texts carried by the sample, if any."""
        texts = results.get('text')
        if texts is None or isinstance(texts, str):
            return None
        if isinstance(texts, dict):
            texts = self._label_map_to_list(texts)
        # Datasets hand over the same class list for every sample: compare
        # with the last one (cheap, mostly identical str objects) before
        # building the hashable key.
        if self._last_raw is not None and texts == self._last_raw[0]:
            return self._last_raw[1]
        key = tuple(t if isinstance(t, str) else tuple(t) for t in texts)
        if key not in self._cache:
            if len(self._cache) >= MAX_CACHED_VOCABULARIES:
                self._cache.clear()
                self._entries.clear()
            self._cache[key] = self._prepare(
                key, 'The class names the dataset puts into '
                "results['text'] (LoadClassTexts)")
        self._last_raw = (texts, self._cache[key])
        return self._cache[key]

    @staticmethod
    def _label_map_to_list(label_map: dict) -> list:
        """mmdet's ``ODVGDataset`` (OD mode) gives ``{"0": "person", ...}``."""
        try:
            ids = sorted(int(k) for k in label_map)
        except (TypeError, ValueError):
            raise ValueError(
                'A label map in results["text"] must have integer class ids '
                f'as keys, got {list(label_map)[:5]}.') from None
        if ids != list(range(len(ids))):
            raise ValueError(
                'The label map in results["text"] must number its classes '
                f'0..{len(ids) - 1} without gaps, got ids {ids[:10]}.')
        by_id = {int(k): v for k, v in label_map.items()}
        return [by_id[i] for i in ids]

    def _vocabulary(self, results: dict) -> List[Tuple[str, ...]]:
        sample_texts = self._sample_texts(results)
        if self._file_texts is not None:
            if (sample_texts is not None
                    and len(sample_texts) != len(self._file_texts)):
                raise ValueError(
                    f'Class-text file {self.class_text_path!r} has '
                    f'{len(self._file_texts)} entries but the dataset has '
                    f'{len(sample_texts)} classes; give exactly one synonym '
                    'list per class, in class-id order.')
            return self._file_texts
        if sample_texts is not None:
            return sample_texts
        if self._arg_texts is not None:
            return self._arg_texts
        found = results.get('text')
        hint = (f" (results['text'] holds the caption {found!r}, which is "
                'not a class list; for phrase grounding use '
                'PhraseGroundingDataset, which needs no LoadClassTexts)'
                ) if isinstance(found, str) else ''
        raise ValueError(
            'LoadClassTexts found no class names for this sample' + hint +
            ": build the mmdet dataset with return_classes=True, wrap the "
            "dataset in dict(type='MultiModalDataset', ...), or pass "
            'classes=[...] or class_text_path=... to LoadClassTexts.')

    def _entry(self, synonyms: Tuple[str, ...]) -> VocabEntry:
        if self.synonym_mode == 'first':
            synonyms = synonyms[:1]
        elif self.synonym_mode == 'random' and len(synonyms) > 1:
            pick = self.random_state.randint(0, len(synonyms) - 1)
            synonyms = synonyms[pick:pick + 1]
        prompts, _ = expand_prompts([synonyms],
                                    self.templates,
                                    template_major=True)
        prompts = tuple(prompts)
        return prompts[0] if len(prompts) == 1 else prompts

    def transform(self, results: dict) -> dict:
        """Attach the vocabulary.

        Args:
            results (dict): Result dict of the pipeline.

        Returns:
            dict: ``results`` with ``text``, ``text_mask``,
            ``text_label_ids`` and ``custom_entities`` set.
        """
        vocabulary = self._vocabulary(results)
        num_texts = len(vocabulary)
        if self.synonym_mode == 'random':
            entries = tuple(self._entry(s) for s in vocabulary)
        else:
            cached = self._entries.get(id(vocabulary))
            if cached is None or cached[0] is not vocabulary:
                cached = (vocabulary,
                          tuple(self._entry(s) for s in vocabulary))
                self._entries[id(vocabulary)] = cached
            entries = cached[1]
        results['text'] = entries
        results['text_mask'] = (True, ) * num_texts
        results['text_label_ids'] = tuple(range(num_texts))
        results['custom_entities'] = True
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'class_text_path={self.class_text_path!r}, '
                f'templates={self.templates!r}, '
                f'synonym_mode={self.synonym_mode!r}, '
                f'clean_names={self.clean_names}, '
                f'seed={self.random_state.seed})')
