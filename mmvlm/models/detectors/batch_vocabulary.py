"""The vocabulary of one batch: what the neck encodes and how predicted
vocabulary indices map back to dataset label ids."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from torch import Tensor

#: One vocabulary entry: a class name / prompt, or a tuple of synonyms.
Entry = Union[str, Tuple[str, ...]]


def parse_prompts(prompts: Union[str, Sequence[Entry]]) -> List[Entry]:
    """Turn user prompts into a list of vocabulary entries.

    A string is split at full stops, so ``'a red car. a person with an
    umbrella'`` gives two prompts; a sequence is taken entry by entry (an
    entry may be a tuple of synonyms). Surrounding blanks are stripped and
    empty prompts dropped.

    Args:
        prompts (str | Sequence[str | tuple[str]]): The prompts.

    Returns:
        list: The non-empty entries, in order.
    """
    if isinstance(prompts, str):
        items = prompts.split('.')
    else:
        items = list(prompts)
    entries = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if item:
                entries.append(item)
        elif isinstance(item, (tuple, list)):
            synonyms = tuple(s.strip() for s in item if str(s).strip())
            if synonyms:
                entries.append(synonyms)
        else:
            raise TypeError('A prompt must be a str or a tuple of synonym '
                            f'strings, got {type(item).__name__}: {item!r}.')
    return entries


def deduplicate(entries: Sequence[Entry],
                label_ids: Optional[Sequence[int]] = None,
                warn: bool = True) -> Tuple[List[Entry], List[int]]:
    """Drop repeated prompts, keeping the first occurrence.

    Args:
        entries (Sequence): Vocabulary entries.
        label_ids (Sequence[int], optional): Label id of each entry; the
            entry index when None.
        warn (bool): Log one warning naming the repeated prompts.

    Returns:
        tuple[list, list[int]]: Unique entries and their label ids.
    """
    if label_ids is None:
        label_ids = list(range(len(entries)))
    if len(label_ids) != len(entries):
        raise ValueError(f'{len(label_ids)} label ids for {len(entries)} '
                         'vocabulary entries; give one id per entry.')
    seen, unique, ids, repeated = set(), [], [], []
    for entry, label_id in zip(entries, label_ids):
        key = entry.lower() if isinstance(entry, str) else tuple(
            s.lower() for s in entry)
        if key in seen:
            repeated.append(entry)
            continue
        seen.add(key)
        unique.append(entry)
        ids.append(int(label_id))
    if repeated and warn:
        print_log(
            f'Duplicate prompts {repeated} were removed from the vocabulary '
            '(each class needs one entry; the first occurrence is kept).',
            logger='current',
            level=30)
    return unique, ids


@dataclass
class BatchVocabulary:
    """Vocabulary of every image of a batch.

    Args:
        texts (list[list]): Entries of each image (padding entries ``''``).
        masks (list[list[bool]]): False for padding entries.
        label_ids (list[list[int]]): Dataset label id of each entry, -1 for
            padding / free-text prompts.
        source (str): Where it came from: ``'data_samples'``,
            ``'model'`` or ``'dataset_meta'``.
    """

    texts: List[List[Entry]]
    masks: List[List[bool]]
    label_ids: List[List[int]]
    source: str

    @property
    def shared(self) -> bool:
        """Whether all images have the same vocabulary."""
        first = self.texts[0]
        return all(list(t) == list(first) for t in self.texts[1:])

    @property
    def num_entries(self) -> int:
        """The largest vocabulary size ``K`` in the batch."""
        return max(len(t) for t in self.texts)

    def neck_texts(self) -> list:
        """Texts in the neck's format: one shared list, or one per image."""
        if self.shared:
            return list(self.texts[0])
        return [list(t) for t in self.texts]

    def mask_tensor(self, num_entries: int, device=None) -> Tensor:
        """``[B, num_entries]`` bool validity, padded with False."""
        mask = torch.zeros(
            len(self.masks), num_entries, dtype=torch.bool, device=device)
        for i, m in enumerate(self.masks):
            mask[i, :len(m)] = torch.tensor(m, dtype=torch.bool)
        return mask

    def map_labels(self, image_index: int, labels: Tensor) -> Tensor:
        """Map vocabulary indices of one image to dataset label ids.

        Entries without a dataset id (free-text prompts) keep their index.

        Args:
            image_index (int): Image of the batch.
            labels (Tensor): Vocabulary indices ``[N]``.

        Returns:
            Tensor: Dataset label ids ``[N]``.
        """
        ids = torch.tensor(
            self.label_ids[image_index], dtype=torch.long,
            device=labels.device)
        if labels.numel() == 0:
            return labels
        mapped = ids[labels.long()]
        return torch.where(mapped >= 0, mapped, labels.long())
