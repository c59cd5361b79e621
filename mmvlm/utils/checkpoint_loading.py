"""Let torch >= 2.6 load mmengine checkpoints with ``weights_only=True``.

Design notes: ``docs/design.md`` (module notes)."""
import builtins
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: Statistics every HistoryBuffer registers (more can be registered later).
BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for unpickling: only HistoryBuffer statistics methods.

    Args:
        obj: The object a pickle asks an attribute of.
        name (str): The attribute name.

    Returns:
        The HistoryBuffer method named ``name``.

    Raises:
        RuntimeError: For any other object or attribute.
    """
    allowed = BUILTIN_STATISTICS.union(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return builtins.getattr(obj, name)
    raise RuntimeError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint with '
        'weights_only=True: only mmengine HistoryBuffer statistics are '
        'allowed. Load a checkpoint you trust with torch.load(..., '
        'weights_only=False).')


def _numpy_safe_globals() -> List[Any]:
    multiarray = getattr(np, '_core', None) or np.core
    dtype_classes = {type(np.dtype(t)) for t in set(np.sctypeDict.values())}
    return [
        multiarray.multiarray._reconstruct, multiarray.multiarray.scalar,
        np.ndarray, np.dtype, *sorted(dtype_classes, key=str)
    ]


def allow_mmengine_checkpoints() -> None:
    """Allow-list what mmengine checkpoints contain for ``weights_only`` loads.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals([
        HistoryBuffer, *_numpy_safe_globals(),
        (restricted_getattr, 'builtins.getattr'),
        (restricted_getattr, '__builtin__.getattr'),
    ])
