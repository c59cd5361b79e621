"""Caption truncation, and the class-text reader of the datasets.

Class-text files (YOLO-World's synonym lists or mmvlm's prompts files) are
read by :func:`mmvlm.structures.prompts_file.load_class_texts`, re-exported
here for the datasets and transforms that take a ``class_text_path``.
"""
from typing import Tuple

from mmvlm.structures.prompts_file import load_class_texts

__all__ = ['load_class_texts', 'truncate_text']


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
