"""Random state shared by the randomised text transforms."""
from typing import Optional

import numpy as np


class TextRandomState:
    """Random numbers for a transform, reproducible under a seed.

    - ``seed=None``: numpy's global random state, which mmengine seeds in
      the main process and in every dataloader worker when the config sets
      ``randomness=dict(seed=...)``; runs are then reproducible through
      mmengine's seeding.
    - ``seed=int``: a private generator. In a dataloader worker it is seeded
      with ``(seed, worker_id)`` on first use, so workers draw different
      but reproducible numbers (the same for the same ``num_workers``).

    Args:
        seed (int, optional): Seed of the private generator.
    """

    def __init__(self, seed: Optional[int] = None) -> None:
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError(f'seed must be an int or None, got {seed!r}.')
        self.seed = None if seed is None else int(seed)
        self._generator: Optional[np.random.Generator] = None
        self._worker_id: Optional[int] = None

    def _get(self):
        if self.seed is None:
            return None
        worker_id = _current_worker_id()
        if self._generator is None or worker_id != self._worker_id:
            entropy = [self.seed] if worker_id is None else [
                self.seed, worker_id
            ]
            self._generator = np.random.default_rng(entropy)
            self._worker_id = worker_id
        return self._generator

    def randint(self, low: int, high: int) -> int:
        """A random integer in ``[low, high]`` (both inclusive)."""
        generator = self._get()
        if generator is None:
            return int(np.random.randint(low, high + 1))
        return int(generator.integers(low, high + 1))

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)``."""
        generator = self._get()
        if generator is None:
            return np.random.permutation(n)
        return generator.permutation(n)


def _current_worker_id() -> Optional[int]:
    """The torch dataloader worker id, or None in the main process."""
    try:
        from torch.utils.data import get_worker_info
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    info = get_worker_info()
    return None if info is None else info.id
