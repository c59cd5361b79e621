"""Checks and bounds of class names and prompts, shared by every reader of
vocabularies (:mod:`~mmvlm.structures.vocabulary`, the prompts file, the
class-text files, the datasets' class names): a leaf module that imports no
other module of mmvlm.

Design notes: ``docs/design.md`` (module notes)."""
import os
import unicodedata
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log

#: One vocabulary entry: a class name / prompt, or a tuple of synonyms /
#: prompts averaged into one embedding. ``''`` is a padding entry.
VocabEntry = Union[str, Tuple[str, ...]]

#: Vocabularies whose duplicates were already reported (warn once each).
_WARNED_DUPLICATES: set = set()
_MAX_WARNED = 1024

#: Most prompts (entries x synonyms x templates) one vocabulary may expand
#: to: each prompt is one language-model sequence (MiniLM on 2 CPU cores
#: encodes about 1,000 a second), so 200,000 is minutes of encoding and the
#: LVIS vocabulary (1,203 classes) with 80 templates and its synonyms fits.
#: The environment variable :data:`MAX_PROMPTS_ENV` raises (or lowers) it.
MAX_PROMPTS = 200_000
MAX_PROMPTS_ENV = 'MMVLM_MAX_PROMPTS'

#: Unicode categories of characters that show nothing on their own.
_INVISIBLE_CATEGORIES = frozenset(
    ('Cc', 'Cf', 'Zs', 'Zl', 'Zp', 'Mn', 'Me', 'Cn', 'Co', 'Cs'))


# --------------------------------------------------------------- names
def check_synonyms(entry: Union[str, Sequence[str]],
                   where: str) -> Tuple[str, ...]:
    """The one check of a vocabulary entry: a name or a synonym list.

    Args:
        entry (str | Sequence[str]): A name or a list of synonyms.
        where (str): What the entry is, for messages (``'Vocabulary entry
            3'``, ``"class 1 ('dog')"``).

    Returns:
        tuple[str, ...]: The synonyms, in order, not stripped.

    Raises:
        TypeError: Not a string or a sequence of strings.
        ValueError: An empty synonym list, a blank name, a name holding a
            control character (``'\\x00'``) or without any visible
            character (``'\\u200b'``).
    """
    title = where[:1].upper() + where[1:]
    if isinstance(entry, str):
        synonyms = (entry, )
    elif isinstance(entry, (list, tuple)):
        synonyms = tuple(entry)
    else:
        raise TypeError(f'{title} must be a string or a tuple / list of '
                        f'synonym strings, got {type(entry).__name__}: '
                        f'{entry!r}.')
    if len(synonyms) == 0:
        raise ValueError(
            f'The synonym list of {where} is empty (an empty synonym list '
            'names no class); give at least one name per class, e.g. '
            '["cat"].')
    for synonym in synonyms:
        if not isinstance(synonym, str):
            raise TypeError(f'{title} holds {synonym!r} '
                            f'({type(synonym).__name__}); names must be str.')
        if not synonym.strip():
            raise ValueError(
                f'{title} is blank ({synonym!r}): every class name or '
                'prompt needs visible text, not an empty string '
                f'(synonyms {list(synonyms)!r}). Remove it, or use '
                "'' only as trailing padding of per-image vocabularies.")
        if not synonym.isprintable():
            _check_visible(synonym, title, synonyms)
    return synonyms


def _check_visible(name: str, title: str, synonyms: Sequence[str]) -> None:
    """Refuse a name with a control character or without any visible
    one (``'\\x00\\x00'``, ``'\\u200b'``); other non-printable characters
    (a zero-width joiner inside an emoji or a Persian word, a no-break
    space) are kept."""
    for position, char in enumerate(name):
        if unicodedata.category(char) == 'Cc' and not char.isspace():
            raise ValueError(
                f'{title} {name!r} holds the control character '
                f'U+{ord(char):04X} at position {position} (synonyms '
                f'{list(synonyms)!r}): a class name is text the language '
                'model reads; remove the character (often a decoding or '
                'copy-paste error in the file the names come from).')
    if all(unicodedata.category(c) in _INVISIBLE_CATEGORIES for c in name):
        codes = ' '.join(f'U+{ord(c):04X}' for c in name[:8])
        raise ValueError(
            f'{title} {name!r} has no visible character (only {codes}): '
            'the language model would read an empty prompt. Give the class '
            'a name made of letters, or remove it.')


# ----------------------------------------------------------- templates
def normalize_templates(
        templates: Optional[Union[str, Sequence[str]]]) -> Tuple[str, ...]:
    """Validate prompt templates (each with one ``{}`` for the name).

    Args:
        templates (str | Sequence[str] | None): One template, an ensemble,
            or None for the bare names.

    Returns:
        tuple[str, ...]: The templates (``('{}', )`` for None).
    """
    if templates is None:
        return ('{}', )
    if isinstance(templates, str):
        templates = (templates, )
    templates = tuple(templates)
    if not templates:
        raise ValueError('templates is an empty list; use None for bare '
                         "class names or e.g. ['a photo of a {}.'].")
    for t in templates:
        if not isinstance(t, str) or t.count('{}') != 1:
            raise ValueError(
                f'Prompt template {t!r} must contain exactly one "{{}}" '
                "(one '{}' placeholder) where the class name goes, e.g. "
                "'a photo of a {}.'.")
    return templates


def expand_prompts(
        entries: Sequence[Tuple[str, ...]],
        templates: Sequence[str],
        template_major: bool = False) -> Tuple[List[str], List[int]]:
    """Expand names x templates into prompts.

    Args:
        entries (Sequence[tuple[str, ...]]): Normalised vocabulary.
        templates (Sequence[str]): Normalised templates.
        template_major (bool): Order the prompts of an entry template by
            template (``t0(n0), t0(n1), t1(n0), ...``) instead of name by
            name (``t0(n0), t1(n0), t0(n1), ...``). The averaged embedding
            does not depend on the order. Defaults to False.

    Returns:
        tuple[list[str], list[int]]: The prompts and, for each prompt, the
        index of its vocabulary entry.
    """
    prompts, owners = [], []
    for index, names in enumerate(entries):
        if template_major:
            pairs = [(t, n) for t in templates for n in names]
        else:
            pairs = [(t, n) for n in names for t in templates]
        for template, name in pairs:
            prompts.append(template.format(name))
            owners.append(index)
    return prompts, owners


# ------------------------------------------------------------ budget
def max_prompts() -> int:
    """The prompt limit: ``MMVLM_MAX_PROMPTS`` when set, else
    :data:`MAX_PROMPTS`."""
    value = os.environ.get(MAX_PROMPTS_ENV, '').strip()
    if not value:
        return MAX_PROMPTS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f'{MAX_PROMPTS_ENV}={value!r} is not a positive '
                         f'integer; set e.g. {MAX_PROMPTS_ENV}=500000.')
    return limit


def check_prompt_count(entries: Sequence[Sequence[str]],
                       num_templates: int,
                       where: str = 'The vocabulary') -> int:
    """Count names x synonyms x templates; refuse more than the limit.

    Called before any prompt is expanded, tokenised or encoded (the text
    encoder, the prompts-file reader), so an oversized vocabulary fails at
    once instead of after minutes and gigabytes.

    Args:
        entries (Sequence[Sequence[str]]): Per entry its names / synonyms
            (a plain string counts as one).
        num_templates (int): Templates each name is filled into.
        where (str): What the vocabulary is, for the message.

    Returns:
        int: The number of prompts.

    Raises:
        ValueError: More than :func:`max_prompts` prompts; the message
            names the count, the limit and how to raise it.
    """
    names = sum(1 if isinstance(e, str) else len(e) for e in entries)
    return check_prompt_total(
        names * int(num_templates), where,
        f'{len(entries):,} entries, {names:,} names with their synonyms, x '
        f'{num_templates} template(s)')


def check_prompt_total(count: int, where: str, detail: str) -> int:
    """Refuse ``count`` prompts when they exceed :func:`max_prompts`.

    Args:
        count (int): Prompts the vocabulary expands to.
        where (str): What the vocabulary is.
        detail (str): How the count comes about, for the message.

    Returns:
        int: ``count``.
    """
    limit = max_prompts()
    if count > limit:
        raise ValueError(
            f'{where} expands to {count:,} prompts ({detail}), more than '
            f'the limit of {limit:,} prompts; nothing was encoded. Each '
            'prompt is one language-model sequence: use fewer names, '
            'synonyms or templates, or raise the limit with the environment '
            f'variable {MAX_PROMPTS_ENV}={count} (docs/reliability.md).')
    return count


# ---------------------------------------------------------- conflicts
def _prompt_key(text: str) -> str:
    """A prompt as the comparison of duplicates sees it: case-folded,
    spaces collapsed."""
    return ' '.join(text.casefold().split())


def vocabulary_conflicts(
        entries: Sequence[Union[str, Sequence[str]]],
        names: Optional[Sequence[str]] = None,
        positions: Optional[Sequence[int]] = None) -> List[str]:
    """Classes the model cannot tell apart by their words.

    Two kinds, compared case-insensitively with spaces collapsed:

    - two classes whose prompts are the same (``'tree'`` / ``'Tree'``): an
      uncased language model (MiniLM) gives them identical embeddings, a
      cased one nearly identical ones;
    - a prompt / synonym of one class that is also a prompt of another
      (``('car', 'automobile')`` and ``('automobile', 'truck')``).

    Padding entries (``''`` / ``()``) are ignored.

    Args:
        entries (Sequence[str | Sequence[str]]): Per class its prompts.
        names (Sequence[str], optional): Class names for the messages
            (default: each class's first prompt).
        positions (Sequence[int], optional): The number each class is
            given in the messages (default: its index).

    Returns:
        list[str]: One sentence per conflict (empty when there is none).
    """
    def label(i: int) -> str:
        first = entries[i] if isinstance(entries[i], str) else entries[i][0]
        number = positions[i] if positions is not None else i
        return f'class {number} ({(names[i] if names else first)!r})'

    conflicts: List[str] = []
    owner: Dict[str, int] = {}
    same: Dict[Tuple[str, ...], int] = {}
    for i, entry in enumerate(entries):
        prompts = [entry] if isinstance(entry, str) else list(entry)
        prompts = [p for p in prompts if p]
        if not prompts:
            continue
        keys = tuple(sorted({_prompt_key(p) for p in prompts}))
        if keys in same:
            conflicts.append(
                f'{label(same[keys])} and {label(i)} have the same prompts '
                'up to case / spacing')
            continue
        same[keys] = i
        for prompt in prompts:
            j = owner.setdefault(_prompt_key(prompt), i)
            if j != i:
                conflicts.append(f'{prompt!r} of {label(i)} is also a '
                                 f'prompt of {label(j)}')
    return conflicts


def warn_vocabulary_conflicts(
        entries: Sequence[Union[str, Sequence[str]]],
        where: str,
        names: Optional[Sequence[str]] = None,
        positions: Optional[Sequence[int]] = None) -> List[str]:
    """Log one warning naming the :func:`vocabulary_conflicts` of a
    vocabulary (once per distinct vocabulary and source).

    Every source of class names calls it the same way: a prompts / class
    list given in code or on the command line, a prompts file, a class-text
    json, a dataset's class names. The classes are kept (their label ids
    belong to the data); the user decides.

    Args:
        entries (Sequence[str | Sequence[str]]): Per class its prompts.
        where (str): The source, e.g. ``"Prompts file 'p.yaml'"``.
        names (Sequence[str], optional): Class names for the message.
        positions (Sequence[int], optional): Class numbers for the message.

    Returns:
        list[str]: The conflicts found.
    """
    conflicts = vocabulary_conflicts(entries, names, positions)
    if not conflicts:
        return conflicts
    key = ('conflicts', where, tuple(conflicts))
    if key not in _WARNED_DUPLICATES:
        if len(_WARNED_DUPLICATES) >= _MAX_WARNED:
            _WARNED_DUPLICATES.clear()
        _WARNED_DUPLICATES.add(key)
        shown = '; '.join(conflicts[:5]) + (
            f'; and {len(conflicts) - 5} more' if len(conflicts) > 5 else '')
        print_log(
            f'{where}: classes the model cannot tell apart: {shown}. Their '
            'embeddings are (nearly) the same, so their scores are too. '
            'Fix: merge such classes, or give each word to one class only '
            '(rename, or move it to the synonyms of the class it means).',
            logger='current',
            level=30)
    return conflicts


def warn_once(key: Hashable, message: str) -> None:
    """Log ``message`` as a warning unless one with ``key`` was logged
    (e.g. not on every image of a demo loop).

    Args:
        key (Hashable): What the warning is about (e.g. the vocabulary).
        message (str): The warning.
    """
    if key in _WARNED_DUPLICATES:
        return
    if len(_WARNED_DUPLICATES) >= _MAX_WARNED:
        _WARNED_DUPLICATES.clear()
    _WARNED_DUPLICATES.add(key)
    print_log(message, logger='current', level=30)
