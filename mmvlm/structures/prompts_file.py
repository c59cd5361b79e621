"""The prompts file: names, synonyms and templates per class, in one small
YAML or JSON file that the configs and the inference tools both read, so
that training and querying use the same words; and the one reader of
class-text files (:func:`load_class_texts`), which takes a prompts file or
YOLO-World's class texts (a json list of synonym lists, one per class).

Design notes: ``docs/design.md`` (module notes)."""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import get_text

from .prompt_checks import (VocabEntry, check_prompt_total, check_synonyms,
                            expand_prompts, normalize_templates,
                            warn_vocabulary_conflicts)

#: File name suffixes read as a prompts file.
PROMPTS_FILE_SUFFIXES = ('.yaml', '.yml', '.json')
#: Largest prompts / class-text file read, in MB (the environment variable
#: :data:`MAX_FILE_MB_ENV` changes it).
MAX_FILE_MB = 8.0
MAX_FILE_MB_ENV = 'MMVLM_MAX_PROMPTS_FILE_MB'
_TOP_KEYS = ('classes', 'templates', 'negatives')
_CLASS_KEYS = ('name', 'prompt', 'synonyms', 'templates')
_NEGATIVE_KEYS = ('exclude', )


class PromptsFileMismatchError(ValueError):
    """The classes of a prompts file are not the classes of the dataset."""


def is_prompts_file(spec) -> bool:
    """Whether ``spec`` is a string naming a prompts file (by suffix).

    Args:
        spec: Anything a vocabulary may be given as.

    Returns:
        bool: True for a string ending in ``.yaml`` / ``.yml`` / ``.json``.
    """
    return isinstance(
        spec, str) and spec.strip().lower().endswith(PROMPTS_FILE_SUFFIXES)


@dataclass(frozen=True)
class PromptClass:
    """One class of a prompts file.

    Attributes:
        name (str): The class name in the annotations.
        prompts (tuple[str, ...]): The prompt, then the synonyms.
        templates (tuple[str, ...]): Templates with one ``{}``.
    """
    name: str
    prompts: Tuple[str, ...]
    templates: Tuple[str, ...] = ('{}', )

    @property
    def entry(self) -> VocabEntry:
        """The vocabulary entry: prompts x templates (a str if one)."""
        expanded, _ = expand_prompts([self.prompts],
                                     self.templates,
                                     template_major=True)
        expanded = tuple(dict.fromkeys(expanded))
        return expanded[0] if len(expanded) == 1 else expanded


@dataclass(frozen=True)
class PromptsFile:
    """A parsed prompts file (see the module docstring for the format).

    Attributes:
        path (str): Where it was read from (for messages).
        classes (tuple[PromptClass, ...]): One per class, in label order.
        negative_exclude (tuple[str, ...]): Names never used as negatives.
    """
    path: str
    classes: Tuple[PromptClass, ...]
    negative_exclude: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> Tuple[str, ...]:
        """The class names, in label order (``metainfo['classes']``)."""
        return tuple(c.name for c in self.classes)

    @property
    def entries(self) -> Tuple[VocabEntry, ...]:
        """One vocabulary entry per class, in label order."""
        return tuple(c.entry for c in self.classes)

    @property
    def prompts(self) -> Tuple[str, ...]:
        """The main prompt of each class (its first prompt)."""
        return tuple(c.prompts[0] for c in self.classes)

    @property
    def words(self) -> Tuple[str, ...]:
        """Every name, prompt and synonym of every class."""
        words = []
        for c in self.classes:
            words += [c.name, *c.prompts]
        return tuple(dict.fromkeys(words))

    def check_classes(self,
                      classes: Sequence[str],
                      where: str = 'the dataset') -> None:
        """Raise unless the file names exactly the dataset's classes.

        Args:
            classes (Sequence[str]): The dataset's class names.
            where (str): What ``classes`` are, for the message.

        Raises:
            PromptsFileMismatchError: Names missing from the file, names
                the dataset does not have, or a different count; the
                message names them and the fix.
        """
        classes = [str(c) for c in classes]
        mine = list(self.names)
        missing = [c for c in classes if c not in mine]
        extra = [c for c in mine if c not in classes]
        if not missing and not extra and len(mine) == len(classes):
            return
        parts = []
        if missing:
            parts.append(f'missing from the file: {missing}')
        if extra:
            parts.append(f'in the file but not in {where}: {extra}')
        if not parts:
            parts.append(f'{len(mine)} entries for {len(classes)} classes '
                         '(a class is listed twice)')
        raise PromptsFileMismatchError(
            f'The prompts file {self.path!r} does not match the classes of '
            f'{where} {classes}: ' + '; '.join(parts) + '. Fix: give the '
            'file one entry per class whose `name` is the class name '
            'exactly as in the annotations (put the words you want the '
            'model to read under `prompt` / `synonyms`), or regenerate it '
            'with tools/misc/new_project.py.')

    def ordered_entries(self,
                        classes: Optional[Sequence[str]] = None,
                        where: str = 'the dataset') -> Tuple[VocabEntry, ...]:
        """The entries of the file in the dataset's class order
        (:meth:`Vocabulary.from_file <mmvlm.structures.Vocabulary.from_file>`
        makes them a vocabulary).

        Args:
            classes (Sequence[str], optional): The dataset's class names:
                checked with :meth:`check_classes`, and the entries are
                put in their order (entry ``i`` is class ``i``). None: file
                order.
            where (str): What ``classes`` are, for the message.

        Returns:
            tuple[VocabEntry, ...]: One entry per class.
        """
        if classes is None:
            return self.entries
        self.check_classes(classes, where)
        by_name = {c.name: c.entry for c in self.classes}
        return tuple(by_name[str(c)] for c in classes)


def _where(path: str, i: int, name: Optional[str] = None) -> str:
    return f'{path!r}, class {i}' + (f' ({name!r})' if name else '')


def _parse_class(raw, i: int, path: str, templates: Tuple[str,
                                                          ...]) -> PromptClass:
    if isinstance(raw, str):
        raw = dict(name=raw)
    elif isinstance(raw, (list, tuple)):  # YOLO-World: a synonym list
        words = check_synonyms(raw, f'the synonym list of {_where(path, i)}')
        raw = dict(name=words[0], synonyms=list(words[1:]))
    if not isinstance(raw, dict):
        raise ValueError(
            f'{_where(path, i)} must be a name, a synonym list or a mapping '
            f'with `name` (and optionally {list(_CLASS_KEYS[1:])}), got '
            f'{raw!r}.')
    unknown = sorted(set(raw) - set(_CLASS_KEYS))
    if unknown or 'name' not in raw:
        raise ValueError(
            f'{_where(path, i, raw.get("name"))}: keys {unknown or []} '
            f'unknown{"" if "name" in raw else " and `name` missing"}; a '
            f'class takes {list(_CLASS_KEYS)}.')
    name = check_synonyms(raw['name'], f'the name of {_where(path, i)}')[0]
    name = name.strip()
    where = _where(path, i, name)
    prompt = raw.get('prompt') or name
    synonyms = raw.get('synonyms') or []
    if isinstance(synonyms, str):
        synonyms = [synonyms]
    prompts = check_synonyms([prompt, *synonyms], f'the prompts of {where}')
    prompts = tuple(dict.fromkeys(p.strip() for p in prompts))
    try:
        own = normalize_templates(raw['templates']) if raw.get(
            'templates') is not None else templates
    except ValueError as e:
        raise ValueError(f'{where}: {e}') from None
    return PromptClass(name, prompts, own)


def check_file_size(path: str, what: str = 'Prompts file') -> int:
    """Refuse a file larger than :data:`MAX_FILE_MB` before reading it.

    Args:
        path (str): A local file.
        what (str): What the file is, for the message.

    Returns:
        int: Its size in bytes.

    Raises:
        ValueError: Too large; the message names the file, its size, the
            limit and how to raise it.
    """
    value = os.environ.get(MAX_FILE_MB_ENV, '').strip()
    try:
        limit = float(value) if value else MAX_FILE_MB
    except ValueError:
        limit = -1.0
    if limit <= 0:
        raise ValueError(f'{MAX_FILE_MB_ENV}={value!r} is not a positive '
                         f'number of MB; set e.g. {MAX_FILE_MB_ENV}=64.')
    size = osp.getsize(path)
    if size > limit * 2**20:
        raise ValueError(
            f'{what} {path!r} is {size / 2**20:.1f} MB, more than the limit '
            f'of {limit:g} MB; it was not read. A vocabulary file lists '
            'class names, synonyms and templates (the 1,203 LVIS classes '
            'with a synonym each take 75 KB): check that this is the '
            'intended file, or raise the limit with the environment '
            f'variable {MAX_FILE_MB_ENV}={size / 2**20 * 1.1:.0f}.')
    return size


def _read(path: str,
          what: str,
          backend_args: Optional[dict] = None) -> object:
    """The decoded content of a prompts / class-text file: YAML for a
    ``.yaml`` / ``.yml`` path, else JSON. A local file larger than
    :data:`MAX_FILE_MB` is refused before it is read; a URI is read with
    mmengine's file backends."""
    missing = FileNotFoundError(
        f'{what} {path!r} does not exist; give the path of a prompts file '
        '(YAML / JSON, written by tools/misc/new_project.py or your own, '
        'see docs/own_data.md) or of a json list of synonym lists, one per '
        'class (YOLO-World class texts).')
    if '://' not in path:
        if not osp.isfile(path):
            raise missing
        check_file_size(path, what)
        with open(path, encoding='utf-8') as f:
            text = f.read()
    else:
        try:
            text = get_text(path, encoding='utf-8', backend_args=backend_args)
        except FileNotFoundError:
            raise missing from None
    is_yaml = path.lower().endswith(('.yaml', '.yml'))
    try:
        if not is_yaml:
            return json.loads(text)
        import yaml

        # libyaml's safe loader when built in: the same tags, ~10x faster
        loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
        return yaml.load(text, Loader=loader)  # noqa: S506 (safe)
    except Exception as e:  # noqa: BLE001 - re-raised with the path
        raise ValueError(f'{what} {path!r} is not valid '
                         f'{"YAML" if is_yaml else "JSON"}: {e}') from None


def _is_synonym_lists(data) -> bool:
    """Whether ``data`` is YOLO-World's class texts: a list whose entries
    are synonym lists or single names (no mapping)."""
    return isinstance(data, list) and all(
        isinstance(e, (str, list, tuple)) for e in data)


def load_prompts_file(path: str) -> PromptsFile:
    """Read a prompts file (YAML or JSON, see the module docstring).

    A json list of synonym lists (YOLO-World class texts) is read as a
    prompts file whose class names are the first synonyms.

    Args:
        path (str): The file.

    Returns:
        PromptsFile: The parsed file.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Larger than :data:`MAX_FILE_MB` (before reading), bad
            syntax, unknown keys, an empty or repeated class, a blank,
            invisible or control-character prompt, a template without one
            ``{}``, more prompts than the limit (the message names the
            file, the class and the fix).
    """
    path = str(path)
    return _parse_prompts_file(_read(path, 'Prompts file'), path)


def _parse_prompts_file(data,
                        path: str,
                        what: str = 'Prompts file') -> PromptsFile:
    """A :class:`PromptsFile` from the decoded content of ``path``."""
    if isinstance(data, list):
        data = dict(classes=data)
    if not isinstance(data, dict) or 'classes' not in data:
        raise ValueError(
            f'{what} {path!r} must hold a mapping with `classes` (a prompts '
            'file: one entry per class, in label order, e.g. "classes: '
            '[{name: nucleus, prompt: cell nucleus}]") or must hold a json '
            'list of synonym lists, one per class (YOLO-World class texts, '
            'e.g. [["person", "man"], ["bicycle"]]).')
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ValueError(f'Prompts file {path!r}: unknown keys {unknown}; '
                         f'the file takes {list(_TOP_KEYS)}.')
    try:
        templates = normalize_templates(data.get('templates'))
    except ValueError as e:
        raise ValueError(f'Prompts file {path!r}: {e}') from None
    raw = data['classes']
    if isinstance(raw, dict):
        raw = [
            dict(name=k, prompt=v) if isinstance(v, str) or v is None else
            dict(name=k, prompt=(list(v) or [k])[0], synonyms=list(v)[1:])
            for k, v in raw.items()
        ]
    if not isinstance(raw, list) or not raw:
        raise ValueError(f'Prompts file {path!r}: `classes` must be a '
                         'non-empty list (one entry per class, in label '
                         'order).')
    classes = tuple(
        _parse_class(r, i, path, templates) for i, r in enumerate(raw))
    # bound the prompts before PromptClass.entry expands them
    check_prompt_total(
        sum(len(c.prompts) * len(c.templates) for c in classes),
        f'Prompts file {path!r}',
        f'{len(classes):,} classes, '
        f'{sum(len(c.prompts) for c in classes):,} prompts and synonyms, '
        'each x its templates')
    seen: Dict[str, int] = {}
    for i, c in enumerate(classes):
        if c.name in seen:
            raise ValueError(
                f'Prompts file {path!r}: class name {c.name!r} is given '
                f'twice (classes {seen[c.name]} and {i}); give each class '
                'once and put other words under its `synonyms`.')
        seen[c.name] = i
    warn_vocabulary_conflicts([c.prompts for c in classes],
                              f'Prompts file {path!r}',
                              [c.name for c in classes])
    negatives = data.get('negatives') or {}
    if not isinstance(negatives, dict) or set(negatives) - set(_NEGATIVE_KEYS):
        raise ValueError(f'Prompts file {path!r}: `negatives` takes '
                         f'{list(_NEGATIVE_KEYS)}, got {negatives!r}.')
    exclude = negatives.get('exclude') or []
    if isinstance(exclude, str):
        exclude = [exclude]
    return PromptsFile(path, classes, tuple(str(e) for e in exclude))


def load_class_texts(
        path: str,
        classes: Optional[Sequence[str]] = None,
        backend_args: Optional[dict] = None) -> List[Tuple[str, ...]]:
    """Read the texts of each class from a class-text file.

    Two formats:

    - YOLO-World class texts: a json list with one entry per class, in
      class-id order, each a list of synonyms (``[["person", "man"],
      ["bicycle"]]``) or a single string. Positional: entry ``i`` is class
      ``i`` whatever its words; text is kept as is.
    - A prompts file (:func:`load_prompts_file`: YAML, or JSON with
      ``classes``): matched to ``classes`` by name and put in their order;
      each class's texts are its prompts x templates.

    Text is read as UTF-8. A local file larger than :data:`MAX_FILE_MB` is
    refused before it is read; blank, invisible and control-character
    names are refused; classes that differ only in case and synonyms
    shared by two classes are flagged with one warning
    (:func:`~mmvlm.structures.prompt_checks.warn_vocabulary_conflicts`).

    Args:
        path (str): Path (or URI understood by mmengine's file backends).
        classes (Sequence[str], optional): The dataset's class names; when
            given, the file must have exactly one entry per class.
        backend_args (dict, optional): mmengine file-backend arguments.

    Returns:
        list[tuple[str, ...]]: The texts of each class, in class order.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Too large, bad syntax, a count or names that do not
            match ``classes``, a bad name (the message names the file,
            the class and the fix).
    """
    path = str(path)
    raw = _read(path, 'Class-text file', backend_args)
    if not _is_synonym_lists(raw):
        entries = _parse_prompts_file(raw, path,
                                      'Class-text file').ordered_entries(
                                          classes)
        return [(e, ) if isinstance(e, str) else tuple(e) for e in entries]
    if classes is not None and len(raw) != len(classes):
        raise ValueError(
            f'Class-text file {path!r} has {len(raw)} entries but the '
            f'dataset has {len(classes)} classes; give exactly one synonym '
            'list per class, in class-id order.')
    texts = [
        check_synonyms(
            entry, f'class {i}' +
            (f' ({classes[i]!r})' if classes is not None else '') +
            f' of {path!r}') for i, entry in enumerate(raw)
    ]
    warn_vocabulary_conflicts(
        texts, f'Class-text file {path!r}',
        [str(c) for c in classes] if classes is not None else None)
    return texts


def write_prompts_file(
    path: str,
    classes: Sequence[str],
    prompts: Optional[Sequence] = None,
    templates: Optional[Sequence[str]] = None,
    negative_exclude: Sequence[str] = ()
) -> str:
    """Write a prompts file (YAML, or JSON for a ``.json`` path).

    Args:
        path (str): Output file.
        classes (Sequence[str]): Class names in label order.
        prompts (Sequence, optional): Per class a prompt or a list
            ``[prompt, synonym, ...]``; default the class names.
        templates (Sequence[str], optional): Templates for every class.
        negative_exclude (Sequence[str]): Names never used as negatives.

    Returns:
        str: ``path``.
    """
    prompts = list(prompts) if prompts is not None else list(classes)
    if len(prompts) != len(classes):
        raise ValueError(f'{len(prompts)} prompts for {len(classes)} '
                         f'classes {list(classes)}: give one per class.')
    entries: List[dict] = []
    for name, words in zip(classes, prompts):
        words = [words] if isinstance(words, str) else list(words)
        entry = dict(name=str(name), prompt=str(words[0]))
        if len(words) > 1:
            entry['synonyms'] = [str(w) for w in words[1:]]
        entries.append(entry)
    data = dict(classes=entries)
    if templates is not None:
        data['templates'] = list(normalize_templates(templates))
    data['negatives'] = dict(exclude=[str(e) for e in negative_exclude])
    if str(path).lower().endswith('.json'):
        text = json.dumps(data, indent=2, ensure_ascii=False) + '\n'
    else:
        import yaml
        text = (
            '# Prompts per class, read by the configs and by the inference\n'
            '# tools (--prompts-file): training and querying use the same\n'
            '# words. One entry per class, in label order: `name` is the\n'
            '# class name in the annotations, `prompt` and `synonyms` what\n'
            '# the language model reads (averaged into one class). Names\n'
            '# under negatives.exclude are never sampled as negative\n'
            '# prompts (put near-synonyms of your classes there).\n' +
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return str(path)
