"""Let torch >= 2.6 load mmengine checkpoints with ``weights_only=True``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, and
mmengine 0.10's checkpoints (written by every mmdet / mmseg training run)
do not load that way: their ``message_hub`` holds :class:`HistoryBuffer`
objects and numpy arrays, and a HistoryBuffer pickles its statistics methods
as ``getattr(HistoryBuffer, 'mean')``. The stock ``tools/test.py`` and
``--resume`` then fail on a checkpoint the user has just trained.

Instead of switching the safety check off (``weights_only=False`` or
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), this module allow-lists exactly those
types, and gives the unpickler a restricted ``getattr`` that only resolves a
HistoryBuffer's registered statistics methods. Arbitrary globals stay refused.
"""
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
