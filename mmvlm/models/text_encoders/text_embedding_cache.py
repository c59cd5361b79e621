"""A bounded cache of pooled language-model features per prompt."""
from collections import OrderedDict
from typing import Callable, Hashable, List, Optional

import torch
from torch import Tensor


class TextEmbeddingCache:
    """Least-recently-used cache of ``[H]`` features keyed by prompt.

    Keys are built by the text encoder from the prompt, the class-specific
    prefix slot and the version of the parameters that feed the language
    model, so that a changed prefix (or LoRA / unfrozen LM) never returns a
    stale entry. It is a plain object, not a buffer: it is never saved in a
    checkpoint.

    Args:
        max_entries (int): Entries kept; the least recently used are
            dropped. 0 disables the cache.
    """

    def __init__(self, max_entries: int = 65536) -> None:
        self.max_entries = max_entries
        self._store: 'OrderedDict[Hashable, Tensor]' = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: Hashable) -> Optional[Tensor]:
        """Return the cached features of ``key`` or None (counted)."""
        value = self._store.get(key)
        if value is None:
            self.misses += 1
            return None
        self._store.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Tensor) -> None:
        """Store detached features under ``key``."""
        if self.max_entries <= 0:
            return
        self._store[key] = value.detach()
        self._store.move_to_end(key)
        while len(self._store) > self.max_entries:
            self._store.popitem(last=False)

    def fetch(self, keys: List[Hashable], version: Hashable,
              compute: Callable[[List[Hashable]],
                                Tensor], device: torch.device) -> Tensor:
        """Features of ``keys``: cached ones, the rest computed and stored.

        Args:
            keys (list): Distinct keys.
            version (Hashable): Version of whatever the features depend on;
                entries of another version are not returned.
            compute (Callable): Maps the missing keys to their ``[M, H]``
                features.
            device (torch.device): Device of the returned features.

        Returns:
            Tensor: ``[len(keys), H]``.
        """
        found = {}
        todo = []
        for key in keys:
            hit = self.get((key, version))
            if hit is None:
                todo.append(key)
            else:
                found[key] = hit.to(device)
        if todo:
            for key, feat in zip(todo, compute(todo)):
                self.put((key, version), feat)
                found[key] = feat
        return torch.stack([found[k] for k in keys])

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self._store.clear()
        self.hits = self.misses = 0
