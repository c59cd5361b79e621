"""Vocabularies: class names, synonyms and prompt templates -> prompts."""
from typing import List, Optional, Sequence, Tuple, Union

#: One vocabulary entry: a name, or a tuple of synonyms / prompts that are
#: averaged into one embedding.
VocabEntry = Union[str, Sequence[str]]


def _is_text_sequence(value) -> bool:
    return isinstance(value, (list, tuple)) and not isinstance(value, str)


def normalize_vocabulary(texts: Sequence[VocabEntry],
                         allow_padding: bool = False,
                         require_valid: bool = True
                         ) -> Tuple[Tuple[str, ...], ...]:
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
        tuple[tuple[str, ...], ...]: One tuple of names per entry.

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
        names = (entry, ) if isinstance(entry, str) else entry
        if not _is_text_sequence(names) and not isinstance(entry, str):
            raise TypeError(f'Vocabulary entry {i} must be a string or a '
                            f'tuple of synonyms, got {type(entry).__name__}: '
                            f'{entry!r}.')
        if allow_padding and isinstance(entry, str) and entry == '':
            entries.append(())
            continue
        if len(names) == 0:
            raise ValueError(f'Vocabulary entry {i} is an empty synonym list; '
                             'give at least one name per class.')
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f'Vocabulary entry {i} holds {name!r} '
                                f'({type(name).__name__}); names must be str.')
            if not name.strip():
                raise ValueError(
                    f'Vocabulary entry {i} is blank ({name!r}): every class '
                    'name or prompt needs visible text. Remove it, or use '
                    "'' only as trailing padding of per-image vocabularies.")
        entries.append(tuple(n.strip() for n in names))
    if require_valid and all(len(e) == 0 for e in entries):
        raise ValueError('The vocabulary has only padding entries; give at '
                         'least one class name.')
    return tuple(entries)


def normalize_templates(templates: Optional[Union[str, Sequence[str]]]
                        ) -> Tuple[str, ...]:
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
                "where the class name goes, e.g. 'a photo of a {}.'.")
    return templates


def expand_prompts(entries: Sequence[Tuple[str, ...]],
                   templates: Sequence[str]) -> Tuple[List[str], List[int]]:
    """Expand names x templates into prompts.

    Args:
        entries (Sequence[tuple[str, ...]]): Normalised vocabulary.
        templates (Sequence[str]): Normalised templates.

    Returns:
        tuple[list[str], list[int]]: The prompts and, for each prompt, the
        index of its vocabulary entry.
    """
    prompts, owners = [], []
    for index, names in enumerate(entries):
        for name in names:
            for template in templates:
                prompts.append(template.format(name))
                owners.append(index)
    return prompts, owners
