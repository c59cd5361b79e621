"""One-element parameters: learnable scalars stored with shape ``(1, )``.

Sharded data parallelism (PyTorch FSDP, as used by mmengine's
``FSDPStrategy``) refuses 0-d parameters ("FSDP doesn't support scalar
parameters"), so every learnable scalar of mmvlm (similarity scales and
biases) is a one-element vector. Checkpoints written before this change
hold them as 0-d tensors; :func:`accept_scalar_checkpoints` reshapes those
on load so that they keep loading without a warning.
"""
from typing import Iterable

import torch
import torch.nn as nn


def one_element(value: float) -> torch.Tensor:
    """A float as a one-element vector.

    Args:
        value (float): The value.

    Returns:
        Tensor: Shape (1, ), float32.
    """
    return torch.tensor([float(value)])


def accept_scalar_checkpoints(module: nn.Module, names: Iterable[str]) -> None:
    """Reshape 0-d checkpoint entries of ``names`` to ``(1, )`` on load.

    Args:
        module (nn.Module): The module owning the parameters / buffers.
        names (Iterable[str]): Local names (e.g. ``'logit_scale'``).
    """
    names = tuple(names)

    def reshape_scalars(state_dict, prefix, *args, **kwargs) -> None:
        for name in names:
            key = prefix + name
            value = state_dict.get(key)
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                state_dict[key] = value.reshape(1)

    module._register_load_state_dict_pre_hook(reshape_scalars)
