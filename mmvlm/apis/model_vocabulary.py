"""Read and set the vocabulary of a language-guided detector or segmentor
through its public API (``vocabulary``, ``vocabulary_label_ids``,
``set_vocabulary``)."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

from torch import nn


def vocabulary_label_ids(model: nn.Module) -> Optional[List[int]]:
    """Dataset label id of each entry of a model's vocabulary.

    Reads the model's public ``vocabulary_label_ids`` property.

    Args:
        model (nn.Module): A language-guided (or baked) detector or
            segmentor.

    Returns:
        list[int] | None: One label id per vocabulary entry; None when the
        model has no vocabulary.
    """
    ids = model.vocabulary_label_ids
    return None if ids is None else [int(i) for i in ids]


def class_names(model: nn.Module) -> List[str]:
    """Name of each label a model predicts, indexed by label id.

    Args:
        model (nn.Module): A language-guided (or baked) detector or
            segmentor with a vocabulary.

    Returns:
        list[str]: The first synonym of each vocabulary entry, at the
        position of its label id (``str(i)`` for ids no entry has).
    """
    if model.vocabulary is None:
        raise ValueError(f'{type(model).__name__} has no vocabulary: give '
                         'prompts, e.g. "a red car. a person".')
    names = [e if isinstance(e, str) else e[0] for e in model.vocabulary]
    labels = vocabulary_label_ids(model)
    if labels is not None and list(labels) != list(range(len(names))):
        # Label ids of a dataset vocabulary: index names by label id.
        table = {int(i): n for i, n in zip(labels, names) if int(i) >= 0}
        names = [table.get(i, str(i)) for i in range(max(table) + 1)]
    return names


@contextmanager
def temporary_vocabulary(model: nn.Module, vocabulary: Sequence,
                         label_ids: Optional[Sequence[int]] = None
                         ) -> Iterator[None]:
    """Score against ``vocabulary`` inside the block; the model's previous
    run-time override (or none) is restored after it.

    The model's own :meth:`temporary_vocabulary` (of
    ``LanguageGuidedModelMixin``) does the work; this function is its
    spelling for code that takes the model as an argument.

    Args:
        model (nn.Module): A language-guided detector or segmentor.
        vocabulary (Sequence): Entries (or a prompt string).
        label_ids (Sequence[int], optional): Label id of each entry.
    """
    with model.temporary_vocabulary(
            vocabulary, None if label_ids is None else list(label_ids)):
        yield
