"""What differs between ``transformers`` (and ``peft``) releases, detected
from the objects themselves.

Every probe of a Hugging Face object's call signature or attributes lives
here, so that an upstream rename is handled in one place and named in one
error. Nothing here compares version strings: each function asks the model
(or module) what it accepts.

Known moves handled here:

- the key/value cache argument of decoder ``forward`` methods:
  ``past_key_values=`` up to transformers 5.23, ``cache=`` from 5.24 (with
  ``**kwargs`` in the signature, a wrong name is swallowed silently, so the
  cache is also checked after the call: :func:`check_cache_consumed`);
- the table of default LoRA target modules in ``peft``.
"""
import inspect
import re
import typing
from typing import FrozenSet, Optional, Sequence

import torch
from torch import Tensor, nn

#: Names under which transformers releases have taken the key/value cache
#: (checked after the type annotation, newest first).
CACHE_ARGUMENT_NAMES = ('cache', 'past_key_values')

_CACHE_ANNOTATION = re.compile(r'\b\w*Cache\b')


def forward_arguments(model: nn.Module) -> FrozenSet[str]:
    """Names of the explicit parameters of ``model.forward``.

    Parameters only reachable through ``**kwargs`` are not listed: a name
    given there may be ignored by the model without an error.

    Args:
        model (nn.Module): A Hugging Face model.

    Returns:
        frozenset[str]: The parameter names.
    """
    params = inspect.signature(model.forward).parameters.values()
    return frozenset(p.name for p in params
                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


def _is_cache_annotation(annotation) -> bool:
    """Whether a parameter annotation names a transformers ``Cache``."""
    if annotation is inspect.Parameter.empty:
        return False
    if isinstance(annotation, str):
        return bool(_CACHE_ANNOTATION.search(annotation))
    try:
        from transformers.cache_utils import Cache
    except ImportError:  # pragma: no cover - transformers without caches
        return False
    if isinstance(annotation, type):
        return issubclass(annotation, Cache)
    return any(_is_cache_annotation(arg) for arg in typing.get_args(annotation))


def cache_argument(model: nn.Module) -> Optional[str]:
    """The ``forward`` parameter of a decoder that takes a key/value cache.

    The parameter annotated with a transformers ``Cache`` type wins; else
    the first of :data:`CACHE_ARGUMENT_NAMES` that is an explicit
    parameter.

    Args:
        model (nn.Module): A Hugging Face model.

    Returns:
        str | None: The parameter name, or None when the model takes no
        cache (encoders, CLIP).
    """
    params = inspect.signature(model.forward).parameters
    for name, param in params.items():
        if name in ('use_cache', 'cache_position'):
            continue
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if _is_cache_annotation(param.annotation):
            return name
    for name in CACHE_ARGUMENT_NAMES:
        if name in params:
            return name
    return None


def new_prefix_cache(config, keys: Tensor, values: Tensor):
    """A fresh ``DynamicCache`` pre-filled with per-layer prefix keys/values.

    Args:
        config: The model's ``PretrainedConfig`` (layer types: full or
            sliding attention).
        keys (Tensor): ``[layers, B, kv_heads, P, head_dim]``.
        values (Tensor): Same shape as ``keys``.

    Returns:
        transformers.DynamicCache: A cache holding ``P`` positions.
    """
    from transformers import DynamicCache
    try:
        cache = DynamicCache(config=config)
    except TypeError:  # releases whose DynamicCache takes no config
        cache = DynamicCache()
    for layer, (k, v) in enumerate(zip(keys, values)):
        cache.update(k, v, layer)
    return cache


def cache_length(cache) -> int:
    """Number of positions held by a cache (layer 0)."""
    return int(cache.get_seq_length())


def check_cache_consumed(cache, expected: int, model: nn.Module,
                         argument: str) -> None:
    """Raise when a model ignored the cache it was given.

    A model that used the cache appends the keys/values of the new tokens to
    it, so its length grows from the prefix length to ``expected``.

    Args:
        cache: The cache passed to the model.
        expected (int): Prefix length + sequence length.
        model (nn.Module): The model (for the message).
        argument (str): The argument name the cache was passed as.

    Raises:
        RuntimeError: The cache did not grow: the model does not take a
            cache under ``argument`` in this transformers release.
    """
    length = cache_length(cache)
    if length == expected:
        return
    import transformers
    raise RuntimeError(
        f'{type(model).__name__} ignored the deep-prefix key/value cache '
        f'passed as {argument}= (cache holds {length} positions after the '
        f'call, expected {expected}). transformers {transformers.__version__}'
        ' takes the cache under another name; mmvlm detects it from the '
        'forward signature (mmvlm/models/text_encoders/hf_compat.py). Install '
        'the tested versions (bash tools/setup_env.sh, pinned by '
        'requirements/constraints.txt) and report this release as an issue.')


def expand_prefix(prefix: Tensor, batch: int,
                  dtype: torch.dtype) -> Sequence[Tensor]:
    """Split a ``[layers, 2, kv_heads, P, head_dim]`` deep prefix into
    batched keys and values ``[layers, B, kv_heads, P, head_dim]``."""
    prefix = prefix.to(dtype)
    keys = prefix[:, 0].unsqueeze(1).expand(-1, batch, -1, -1, -1)
    values = prefix[:, 1].unsqueeze(1).expand(-1, batch, -1, -1, -1)
    return keys, values


def default_lora_targets(model_type: str) -> Optional[list]:
    """peft's default LoRA target modules for a model type.

    Args:
        model_type (str): ``config.model_type`` of the model.

    Returns:
        list[str] | None: Module names, None when peft has no default.
    """
    table = None
    for where in ('peft.utils.constants', 'peft.utils'):
        try:
            module = __import__(where, fromlist=['_'])
        except ImportError:
            continue
        table = getattr(module,
                        'TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING',
                        None)
        if table is not None:
            break
    if table is None:
        return None
    targets = table.get(model_type)
    return list(targets) if targets is not None else None
