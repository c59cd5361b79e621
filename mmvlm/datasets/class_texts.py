"""Class-text files (YOLO-World format) and caption truncation.

These helpers read files and captions; what a vocabulary entry is, how
names are cleaned and templates expanded lives in
:mod:`mmvlm.structures.vocabulary`.
"""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.fileio import get_text

from mmvlm.structures import (check_file_size, check_synonyms,
                              warn_vocabulary_conflicts)


def load_class_texts(
        path: str,
        classes: Optional[Sequence[str]] = None,
        backend_args: Optional[dict] = None) -> List[Tuple[str, ...]]:
    """Load a class-text file (YOLO-World format).

    The file is a json list with one entry per class, in class-id order;
    each entry is a list of synonyms (``[["person", "man"], ["bicycle"]]``)
    or a single string. Text is read as UTF-8 and kept as is. A local file
    larger than :data:`mmvlm.structures.MAX_FILE_MB` is refused before it
    is read; blank, invisible and control-character names are refused;
    classes that differ only in case and synonyms shared by two classes
    are flagged with one warning
    (:func:`mmvlm.structures.warn_vocabulary_conflicts`).

    Args:
        path (str): Path (or URI understood by mmengine's file backends).
        classes (Sequence[str], optional): The dataset's class names; when
            given, the file must have exactly one entry per class.
        backend_args (dict, optional): mmengine file-backend arguments.

    Returns:
        list[tuple[str, ...]]: The synonyms of each class.
    """
    if osp.isfile(path):
        check_file_size(path, 'Class-text file')
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
