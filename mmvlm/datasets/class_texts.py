"""Class names and class-text files: loading, cleaning, prompt expansion.

A *vocabulary entry* is either one string or a tuple of strings (synonyms
and/or prompt templates filled with them) that the model averages into one
embedding (``docs/design.md`` §2). These helpers turn a dataset's raw class
names or a YOLO-World style class-text file into such entries. They only
handle strings: tokenisation belongs to the model.
"""
import json
import re
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.fileio import get_text

#: One vocabulary entry: a name, or a tuple of synonyms / prompts.
VocabEntry = Union[str, Tuple[str, ...]]

#: Suffixes of COCO-Stuff / COCO-Panoptic class names that only disambiguate
#: the annotation scheme ("wall-other-merged" is a wall). Stripped repeatedly
#: from the end of a name, in any order.
STUFF_SUFFIXES = ('-merged', '-other', '-stuff')

_PARENTHESES = re.compile(r'\(([^()]*)\)')
_SPACES = re.compile(r'\s+')


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


def normalize_synonyms(entry: Union[str, Sequence[str]],
                       index: int,
                       class_name: Optional[str] = None) -> Tuple[str, ...]:
    """Check one class's synonyms and return them as a tuple.

    Args:
        entry (str | Sequence[str]): A class name or a list of synonyms.
        index (int): Position of the class, for error messages.
        class_name (str, optional): Dataset class name, for error messages.

    Returns:
        tuple[str, ...]: The non-empty synonyms, in order.
    """
    where = f'class {index}' + (f' ({class_name!r})' if class_name else '')
    if isinstance(entry, str):
        synonyms = (entry, )
    elif isinstance(entry, (list, tuple)):
        synonyms = tuple(entry)
    else:
        raise TypeError(f'The texts of {where} must be a str or a list of '
                        f'str, got {entry!r}.')
    if len(synonyms) == 0:
        raise ValueError(f'The synonym list of {where} is empty; give at '
                         'least one name per class (e.g. ["cat"]).')
    for synonym in synonyms:
        if not isinstance(synonym, str):
            raise TypeError(f'Synonym {synonym!r} of {where} is not a str.')
        if not synonym.strip():
            raise ValueError(f'The synonym list of {where} contains an '
                             f'empty string: {list(synonyms)!r}.')
    return synonyms


def load_class_texts(
        path: str,
        classes: Optional[Sequence[str]] = None,
        backend_args: Optional[dict] = None) -> List[Tuple[str, ...]]:
    """Load a class-text file (YOLO-World format).

    The file is a json list with one entry per class, in class-id order;
    each entry is a list of synonyms (``[["person", "man"], ["bicycle"]]``)
    or a single string. Text is read as UTF-8 and kept as is.

    Args:
        path (str): Path (or URI understood by mmengine's file backends).
        classes (Sequence[str], optional): The dataset's class names; when
            given, the file must have exactly one entry per class.
        backend_args (dict, optional): mmengine file-backend arguments.

    Returns:
        list[tuple[str, ...]]: The synonyms of each class.
    """
    try:
        raw = json.loads(
            get_text(path, encoding='utf-8', backend_args=backend_args))
    except FileNotFoundError:
        raise FileNotFoundError(
            f'Class-text file {path!r} does not exist; pass the path of a '
            'json list of synonym lists (one per class).') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'Class-text file {path!r} is not valid json: '
                         f'{err}.') from None
    if not isinstance(raw, list):
        raise ValueError(f'Class-text file {path!r} must hold a json list '
                         f'(one entry per class), got a '
                         f'{type(raw).__name__}.')
    if classes is not None and len(raw) != len(classes):
        raise ValueError(
            f'Class-text file {path!r} has {len(raw)} entries but the '
            f'dataset has {len(classes)} classes; give exactly one synonym '
            'list per class, in class-id order.')
    return [
        normalize_synonyms(
            entry, i, classes[i] if classes is not None else None)
        for i, entry in enumerate(raw)
    ]


def expand_templates(synonyms: Sequence[str],
                     templates: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """Fill every prompt template with every synonym.

    Args:
        synonyms (Sequence[str]): The names of one class.
        templates (Sequence[str], optional): Templates containing ``{}``
            once, e.g. ``'a photo of a {}.'``. None keeps the names.

    Returns:
        tuple[str, ...]: ``len(templates) * len(synonyms)`` prompts,
        template-major, or the synonyms when no template is given.
    """
    if not templates:
        return tuple(synonyms)
    return tuple(t.format(s) for t in templates for s in synonyms)


def check_templates(templates: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """Validate prompt templates.

    Args:
        templates (Sequence[str], optional): Templates, each with one
            ``{}`` placeholder.

    Returns:
        tuple[str, ...]: The templates (empty tuple for None).
    """
    if templates is None:
        return ()
    if isinstance(templates, str):
        templates = (templates, )
    for template in templates:
        if not isinstance(template, str) or template.count('{}') != 1:
            raise ValueError(
                f'Prompt template {template!r} must be a str with exactly '
                "one '{}' placeholder, e.g. 'a photo of a {}.'.")
    return tuple(templates)


def truncate_text(text: str, max_chars: int) -> Tuple[str, bool]:
    """Cut a caption / phrase to at most ``max_chars`` characters.

    The cut happens at the last whitespace before the limit when there is
    one (so words stay whole), else exactly at the limit (e.g. for scripts
    written without spaces).

    Args:
        text (str): The text.
        max_chars (int): Maximum length in characters.

    Returns:
        tuple[str, bool]: The (possibly) shortened text and whether it was
        shortened.
    """
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    cut = head.rfind(' ')
    if cut > 0 and not text[max_chars].isspace():
        head = head[:cut]
    return head.rstrip(), True
