"""From language-model hidden states to class embeddings: pooling of each
sequence, projection to the head width, averaging of prompts per entry."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Pooling modes understood by :func:`pool_hidden_states` (plus ``'auto'``
#: in ``HFTextEncoder``, which picks one by architecture).
POOLING_MODES = ('cls', 'mean', 'last', 'eos')


def last_valid_index(attention_mask: Tensor) -> Tensor:
    """Index of the last valid (mask 1) position of every row.

    Correct for left padding (``0 0 1 1 1``), right padding (``1 1 1 0 0``)
    and any mix of the two.

    Args:
        attention_mask (Tensor): ``[N, L]`` 0/1 or bool mask.

    Returns:
        Tensor: ``[N]`` long indices.
    """
    mask = attention_mask.long()
    positions = torch.arange(mask.shape[1], device=mask.device)
    return (mask * (positions + 1)).argmax(dim=1)


def first_valid_index(attention_mask: Tensor) -> Tensor:
    """Index of the first valid position of every row (left or right
    padding).

    Args:
        attention_mask (Tensor): ``[N, L]`` 0/1 or bool mask.

    Returns:
        Tensor: ``[N]`` long indices.
    """
    mask = attention_mask.long()
    positions = torch.arange(mask.shape[1], 0, -1, device=mask.device)
    return (mask * positions).argmax(dim=1)


def pool_hidden_states(hidden: Tensor, attention_mask: Tensor,
                       mode: str) -> Tensor:
    """Pool ``[N, L, H]`` hidden states into ``[N, H]``.

    Args:
        hidden (Tensor): Last hidden states ``[N, L, H]``.
        attention_mask (Tensor): ``[N, L]`` validity mask (1 = token).
        mode (str): ``'cls'`` (first valid token: CLS / BOS), ``'mean'``
            (mean over valid tokens), ``'last'`` (last valid token, the only
            one that has seen the whole text in a causal LM) or ``'eos'``
            (the EOS token, which the encoder places last).

    Returns:
        Tensor: ``[N, H]`` pooled features.
    """
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if mode == 'cls':
        return hidden[rows, first_valid_index(attention_mask)]
    if mode in ('last', 'eos'):
        return hidden[rows, last_valid_index(attention_mask)]
    if mode == 'mean':
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    raise ValueError(f"Unknown pooling '{mode}'; use one of "
                     f"{POOLING_MODES + ('auto', )}.")


def average_per_entry(embeds: Tensor, owners: Tensor,
                      num_entries: int) -> Tensor:
    """Average prompt embeddings per vocabulary entry and L2-normalise.

    Args:
        embeds (Tensor): ``[..., N, D]`` L2-normalised prompt embeddings.
        owners (Tensor): ``[N]`` entry index of each prompt.
        num_entries (int): Number of entries ``K``; an entry without
            prompts (padding) gets a zero vector.

    Returns:
        Tensor: ``[..., K, D]``.
    """
    # one-hot [K, N] assignment: a matmul sums each entry's prompts
    # (much faster than index_add_ on CPU, and batched over images).
    assign = F.one_hot(owners, num_entries).t().to(embeds.dtype)
    return F.normalize(torch.matmul(assign, embeds), dim=-1)


def build_projection(in_dims: int, out_dims: Optional[int]) -> nn.Module:
    """Projection of pooled LM features to the head's embedding width.

    A random Gaussian map (zero bias): it keeps the LM's cosine geometry
    approximately (Johnson-Lindenstrauss) at the start of training.

    Args:
        in_dims (int): LM width.
        out_dims (int, optional): Output width; None: no projection.

    Returns:
        nn.Module: ``nn.Linear(in_dims, out_dims)`` or ``nn.Identity()``.
    """
    if out_dims is None:
        return nn.Identity()
    projection = nn.Linear(in_dims, out_dims)
    nn.init.normal_(projection.weight, std=out_dims**-0.5)
    nn.init.zeros_(projection.bias)
    return projection
