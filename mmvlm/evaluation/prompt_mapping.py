"""Prompts mapped to dataset classes, for per-prompt evaluation.

A user asks "which words does my model understand?" by giving prompts and
the dataset class each prompt should find::

    'tree. tree crown=tree. canopy=tree. car=tree'

Pieces are separated by full stops; ``prompt=class`` maps a prompt to a
class of the dataset, a piece without ``=`` must be a class name itself.
The Python API also takes a list of such pieces, ``(prompt, class)`` pairs
or a ``{prompt: class}`` dict; and a prompts file (``.yaml`` / ``.yml`` /
``.json``, :mod:`mmvlm.structures.prompts_file`, the one the configs read)
gives every prompt and synonym of each class as a prompt of that class.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple, Union

PromptsLike = Union[str, Sequence[Union[str, Tuple[str, str]]], Dict[str,
                                                                     str]]


@dataclass(frozen=True)
class PromptForClass:
    """One prompt and the dataset class it is scored against.

    Attributes:
        prompt (str): The text given to the model.
        class_name (str): Name of the dataset class.
        class_id (int): Index of the class in the dataset's ``classes``.
    """
    prompt: str
    class_name: str
    class_id: int


def _pieces(prompts: PromptsLike) -> List[Tuple[str, str]]:
    """``(prompt, class or '')`` pairs of every accepted spelling."""
    from mmvlm.structures import is_prompts_file, load_prompts_file
    if is_prompts_file(prompts):
        spec = load_prompts_file(prompts.strip())
        return [(p, c.name) for c in spec.classes for p in c.prompts]
    if isinstance(prompts, str):
        items = [p for p in prompts.split('.')]
    elif isinstance(prompts, dict):
        return [(str(p), str(c)) for p, c in prompts.items()]
    else:
        items = list(prompts)
    pairs = []
    for item in items:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError(
                    f'Prompt pair {item!r}: give (prompt, class name).')
            pairs.append((str(item[0]), str(item[1])))
            continue
        if not isinstance(item, str):
            raise TypeError(f'Prompt {item!r}: expected a string like '
                            '"tree crown=tree" or a (prompt, class) pair.')
        if not item.strip():
            continue  # empty piece between full stops
        if item.count('=') > 1:
            raise ValueError(f'Prompt {item.strip()!r} has more than one "=";'
                             ' write "prompt=class name".')
        prompt, _, cls = item.partition('=')
        pairs.append((prompt, cls))
    return pairs


def parse_prompts_for_classes(prompts: PromptsLike,
                              classes: Sequence[str]
                              ) -> List[PromptForClass]:
    """Map each prompt to the dataset class it should find.

    Args:
        prompts (str | Sequence | dict): ``'a. b=c'`` (full stops between
            pieces; ``prompt=class``; a piece without ``=`` must be a class
            name), a list of such pieces or ``(prompt, class)`` pairs, a
            ``{prompt: class}`` dict, or the path of a prompts file (each
            class's prompt and synonyms, without its templates).
        classes (Sequence[str]): The dataset's class names.

    Returns:
        list[PromptForClass]: One per prompt, in the given order.

    A prompt may be scored against several classes (``'car=tree.
    car=person'``): the model scores it once, each class gets its row.

    Raises:
        ValueError: No prompt; a blank prompt; a class that is not in
            ``classes`` (the message lists them); the same prompt and class
            twice.
    """
    lookup = {c.strip().lower(): i for i, c in enumerate(classes)}
    out, seen = [], set()
    for prompt, cls in _pieces(prompts):
        prompt = ' '.join(prompt.split())
        cls = ' '.join(cls.split()) or prompt
        if not prompt:
            raise ValueError(f'Blank prompt for class {cls!r}: write '
                             '"prompt=class name".')
        key = cls.lower()
        if key not in lookup:
            hint = ('' if '=' in str(prompts) else
                    f' Map it to a class with "{prompt}=<class name>".')
            raise ValueError(
                f'Prompt {prompt!r}: class {cls!r} is not a class of the '
                f'dataset {list(classes)}.{hint}')
        pair = (prompt.lower(), key)
        if pair in seen:
            raise ValueError(
                f'Prompt {prompt!r} for class {cls!r} is given twice; give '
                'each prompt=class pair once.')
        seen.add(pair)
        cid = lookup[key]
        out.append(PromptForClass(prompt, classes[cid], cid))
    if not out:
        raise ValueError(f'No prompt in {prompts!r}: give e.g. '
                         '"tree. tree crown=tree".')
    return out
