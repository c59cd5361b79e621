"""Between dataset class ids and the entries of a classification
vocabulary (no mmpretrain import).

A language-guided classifier scores the ``K`` entries of a vocabulary whose
entry ``k`` stands for dataset class ``label_ids[k]`` (``-1``: a free-text
prompt). Training targets are dataset ids and must become entry indices;
predictions are entry scores and become dataset-class scores, so that the
stock ``Accuracy`` / ``MultiLabelMetric`` evaluate them unchanged.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor


def is_identity(label_ids: Sequence[int], num_classes: int) -> bool:
    """Whether entry ``k`` is dataset class ``k`` for all ``num_classes``."""
    return len(label_ids) == num_classes and all(
        int(i) == k for k, i in enumerate(label_ids))


def dataset_to_entries(label_ids: Sequence[int], num_classes: int) -> Tensor:
    """``[C]`` entry index of each dataset class (``-1``: not in the
    vocabulary).

    Args:
        label_ids (Sequence[int]): Dataset id of each entry.
        num_classes (int): Number of dataset classes ``C`` to cover.

    Returns:
        Tensor: Long ``[max(C, max id + 1)]``.
    """
    size = max([num_classes] + [int(i) + 1 for i in label_ids])
    index = torch.full((size, ), -1, dtype=torch.long)
    for entry, label in enumerate(label_ids):
        if label >= 0 and index[label] < 0:
            index[label] = entry
    return index


def single_label_targets(gt_labels: Tensor,
                         label_ids: Sequence[int],
                         owner: str = 'classifier') -> Tensor:
    """Dataset class ids → vocabulary entry indices.

    Args:
        gt_labels (Tensor): ``[N]`` dataset class ids.
        label_ids (Sequence[int]): Dataset id of each vocabulary entry.
        owner (str): Name used in the error.

    Returns:
        Tensor: ``[N]`` entry indices.

    Raises:
        ValueError: A class id that no entry stands for.
    """
    index = dataset_to_entries(label_ids, 0).to(gt_labels.device)
    labels = gt_labels.long()
    missing = (labels < 0) | (labels >= index.numel())
    mapped = index[labels.clamp(0, max(index.numel() - 1, 0))]
    missing = missing | (mapped < 0)
    if bool(missing.any()):
        bad = sorted(set(labels[missing].tolist()))
        raise ValueError(
            f'{owner}: ground-truth class id(s) {bad} are not in the training '
            f'vocabulary (its dataset ids: {list(label_ids)}). Give the '
            'training vocabulary every class the training data labels '
            '(train_vocabulary=dict(dataset=..., label_ids=[...]) or '
            'vocabulary_label_ids), or drop those samples from the training '
            'set (held-out classes).')
    return mapped


def score_targets(gt_score: Tensor, label_ids: Sequence[int]) -> Tensor:
    """``[..., C]`` dataset-class scores (one-hot, mixup) → ``[..., K]``
    entry scores (entries without a dataset id get 0)."""
    ids = torch.as_tensor(list(label_ids),
                          dtype=torch.long,
                          device=gt_score.device)
    valid = ids >= 0
    out = gt_score.new_zeros(*gt_score.shape[:-1], len(label_ids))
    out[..., valid] = gt_score[..., ids[valid]]
    return out


def multi_label_targets(gt_labels: Tensor, label_ids: Sequence[int]) -> Tensor:
    """Dataset class ids of one image → entry indices; classes outside the
    vocabulary are dropped (they are not scored, so they are neither
    positives nor negatives)."""
    index = dataset_to_entries(label_ids, 0).to(gt_labels.device)
    labels = gt_labels.long()
    inside = (labels >= 0) & (labels < index.numel())
    mapped = index[labels[inside]]
    return mapped[mapped >= 0]


def entry_scores_to_dataset(scores: Tensor,
                            label_ids: Sequence[int],
                            num_classes: int,
                            fill: float = 0.0) -> Tensor:
    """Scatter ``[..., K]`` entry scores into ``[..., C]`` dataset classes.

    Dataset classes without an entry get ``fill``; entries without a dataset
    id (free-text prompts) are dropped. When entry ``k`` is class ``k`` for
    every class the scores are returned unchanged.

    Args:
        scores (Tensor): ``[..., K]`` (softmax or sigmoid scores).
        label_ids (Sequence[int]): Dataset id of each entry.
        num_classes (int): Dataset classes ``C`` (grown to cover every id).
        fill (float): Score of classes outside the vocabulary.

    Returns:
        Tensor: ``[..., C']`` with ``C' = max(C, max id + 1)``.
    """
    if is_identity(label_ids, max(num_classes, len(label_ids))):
        return scores
    if all(int(i) < 0 for i in label_ids):
        return scores  # free text only: stay in entry space
    size = max([num_classes] + [int(i) + 1 for i in label_ids])
    out = scores.new_full((*scores.shape[:-1], size), fill)
    ids = torch.as_tensor(list(label_ids),
                          dtype=torch.long,
                          device=scores.device)
    valid = ids >= 0
    out[..., ids[valid]] = scores[..., valid]
    return out


def entry_labels_to_dataset(labels: Tensor,
                            label_ids: Sequence[int],
                            fill: Optional[int] = None) -> Tensor:
    """Entry indices → dataset ids (``fill``, or the entry index when None,
    for free-text entries)."""
    if labels.numel() == 0:
        return labels
    ids = torch.as_tensor(list(label_ids),
                          dtype=torch.long,
                          device=labels.device)
    mapped = ids[labels.long()]
    other = labels.long() if fill is None else torch.full_like(mapped, fill)
    return torch.where(mapped >= 0, mapped, other)


def dataset_vocabulary(spec, registry=None):
    """A vocabulary spelled as an mmpretrain dataset type name.

    mmpretrain's datasets are named without the ``Dataset`` suffix that
    :meth:`Vocabulary.parse` recognises (``'ImageNet'``, ``'CIFAR10'``,
    ``'VOC'``): a plain string that names a registered dataset with
    ``METAINFO['classes']`` becomes that class list; anything else is
    returned unchanged (parsed by :meth:`Vocabulary.parse`).

    Args:
        spec: A vocabulary spelling.
        registry: The dataset registry (default: mmpretrain's, when
            installed).

    Repeated names (ImageNet has two classes called ``'crane'``, the bird
    and the machine) stay separate classes: a repeat becomes
    ``'<name>, class <id>'`` (a vocabulary drops repeated entries, which
    would leave a class without an entry).

    Returns:
        The class list, or ``spec`` unchanged.
    """
    if not isinstance(spec, str) or not spec.isidentifier():
        return spec
    if registry is None:
        try:
            from mmpretrain.registry import DATASETS as registry
        except ImportError:
            return spec
    name = spec.split('.')[-1]
    dataset = registry.get(name)
    classes = getattr(dataset, 'METAINFO', {}).get('classes') \
        if dataset is not None else None
    if not classes:
        return spec
    seen, names = set(), []
    for index, name in enumerate(classes):
        key = str(name).strip().lower()
        names.append(f'{name}, class {index}' if key in seen else name)
        seen.add(key)
    return names
