"""One forward call of a language model on prompt sequences, pooled.

Sequences are ``[BOS/CLS] [visual tokens] [prefix] text``, built in the
LM's input-embedding space when anything besides token ids is fed, padded
on the tokenizer's side. Position ids count valid tokens only, so results
do not depend on the padding side.
"""
from typing import Callable, FrozenSet, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .hf_model_info import last_hidden_state
from .prompt_learners import DeepPromptPrefix
from .text_pooling import pool_hidden_states


def _valid_mask(lengths: Tensor, width: int) -> Tensor:
    """``[N, width]`` long mask, 1 on the first ``lengths[i]`` positions."""
    positions = torch.arange(width, device=lengths.device)
    return (positions.unsqueeze(0) < lengths.unsqueeze(1)).long()


def token_id_matrix(token_lists: Sequence[List[int]],
                    device: torch.device) -> Tensor:
    """``[N, L]`` token ids, right-padded with 0 (L >= 1)."""
    width = max(max(len(t) for t in token_lists), 1)
    ids = torch.zeros(len(token_lists), width, dtype=torch.long)
    for i, seq in enumerate(token_lists):
        ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids.to(device)


def pad_token_ids(ids: Tensor, lengths: Sequence[int], pad_id: int,
                  left: bool) -> Tuple[Tensor, Tensor]:
    """Pad right-aligned ``[N, L]`` ids with ``pad_id`` on one side.

    Returns:
        tuple[Tensor, Tensor]: ``[N, L]`` ids and attention mask.
    """
    mask = _valid_mask(torch.tensor(lengths, device=ids.device), ids.shape[1])
    ids = ids.masked_fill(mask == 0, pad_id)
    if left:
        order = torch.argsort(mask, dim=1, stable=True)
        ids, mask = ids.gather(1, order), mask.gather(1, order)
    return ids, mask


def assemble_sequences(token_embeds: Tensor, token_lists: Sequence[List[int]],
                       head_lengths: Sequence[int], visual: Optional[Tensor],
                       prefix: Optional[Tensor]) -> List[Tensor]:
    """Insert visual tokens and the prefix after each sequence's head token.

    Args:
        token_embeds (Tensor): ``[N, L, H]`` embeddings of the token ids.
        token_lists (Sequence[list[int]]): The ids (for the lengths).
        head_lengths (Sequence[int]): 1 when a sequence starts with
            BOS / CLS, else 0.
        visual (Tensor, optional): ``[N, V, H]`` visual tokens.
        prefix (Tensor, optional): ``[N, P, H]`` learned prefix.

    Returns:
        list[Tensor]: ``N`` rows ``[head + V + P + text, H]`` in the dtype
        of ``token_embeds``.
    """
    dtype = token_embeds.dtype
    rows = []
    for i, seq in enumerate(token_lists):
        head = head_lengths[i]
        pieces = [token_embeds[i, :head]]
        if visual is not None:
            pieces.append(visual[i].to(dtype))
        if prefix is not None:
            pieces.append(prefix[i].to(dtype))
        pieces.append(token_embeds[i, head:len(seq)])
        rows.append(torch.cat(pieces, dim=0))
    return rows


def pad_sequences(rows: List[Tensor], left: bool) -> Tuple[Tensor, Tensor]:
    """Pad ``[L_i, H]`` rows with zeros into ``[N, L, H]`` and a mask.

    Returns:
        tuple[Tensor, Tensor]: Embeddings ``[N, L, H]``, mask ``[N, L]``.
    """
    lengths = torch.tensor([r.shape[0] for r in rows], device=rows[0].device)
    if left:
        rows = [r.flip(0) for r in rows]
    embeds = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    mask = _valid_mask(lengths, embeds.shape[1])
    if left:
        embeds, mask = embeds.flip(1), mask.flip(1)
    return embeds, mask


def pooled_lm_features(
        lm: nn.Module,
        inputs: dict,
        mask: Tensor,
        pooling: str,
        forward_args: FrozenSet[str],
        deep_prefix: Optional[DeepPromptPrefix] = None) -> Tensor:
    """Run the LM once and pool its last hidden states.

    Args:
        lm (nn.Module): The language model.
        inputs (dict): ``input_ids`` or ``inputs_embeds`` (``[N, L(, H)]``).
        mask (Tensor): ``[N, L]`` attention mask of ``inputs``.
        pooling (str): A mode of :func:`.pool_hidden_states`.
        forward_args (frozenset[str]): The LM's forward arguments
            (:func:`.hf_compat.forward_arguments`).
        deep_prefix (DeepPromptPrefix, optional): Keys/values prepended in
            every layer.

    Returns:
        Tensor: ``[N, H]`` float32 features.
    """
    kwargs = dict(inputs, attention_mask=mask)
    offset = 0
    if deep_prefix is not None:
        offset = deep_prefix.length
        dtype = next(lm.parameters()).dtype
        kwargs.update(deep_prefix(mask, lm.config, dtype))
    if 'position_ids' in forward_args:
        # Positions count valid tokens only: identical results for left
        # and right padding.
        kwargs['position_ids'] = (mask.cumsum(1) - 1).clamp(min=0) + offset
    if 'use_cache' in forward_args:
        kwargs['use_cache'] = deep_prefix is not None
    out = lm(**kwargs)
    if deep_prefix is not None:
        deep_prefix.check_consumed(kwargs, lm)
    return pool_hidden_states(last_hidden_state(out), mask, pooling).float()


def run_length_sorted(
        token_lists: Sequence[List[int]], slots: Sequence[int],
        batch_size: int, run: Callable[[List[List[int]], Tensor],
                                       Tensor]) -> Tensor:
    """Run sequences in chunks of similar token length (less padding).

    Args:
        token_lists (Sequence[list[int]]): ``N`` token id lists.
        slots (Sequence[int]): Prefix slot per sequence.
        batch_size (int): Sequences per chunk.
        run (Callable): Maps a chunk's id lists and ``[n]`` slots to its
            ``[n, H]`` features.

    Returns:
        Tensor: ``[N, H]`` features in the input order.
    """
    order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
    chunks = []
    for start in range(0, len(order), batch_size):
        part = order[start:start + batch_size]
        chunks.append(
            run([token_lists[i] for i in part],
                torch.tensor([slots[i] for i in part], dtype=torch.long)))
    feats = torch.cat(chunks)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return feats[inverse.to(feats.device)]


def run_per_image(token_lists: Sequence[List[int]], slots: Sequence[int],
                  visual_tokens: Tensor, batch_size: int,
                  run: Callable[..., Tensor]) -> Tensor:
    """Run every sequence once per image, with that image's visual tokens.

    Args:
        token_lists (Sequence[list[int]]): ``N`` token id lists.
        slots (Sequence[int]): Prefix slot per sequence.
        visual_tokens (Tensor): ``[B, V, H]`` visual tokens.
        batch_size (int): About how many sequences per LM call (whole
            images per call, at least one).
        run (Callable): Maps id lists, ``[n]`` slots and ``[n, V, H]``
            visual tokens to ``[n, H]`` features.

    Returns:
        Tensor: ``[B, N, H]`` features.
    """
    num_images, num = visual_tokens.shape[0], len(token_lists)
    slots_t = torch.tensor(slots, dtype=torch.long)
    step = max(1, batch_size // max(1, num))
    out = []
    for start in range(0, num_images, step):
        images = range(start, min(num_images, start + step))
        visual = torch.cat([
            visual_tokens[b].unsqueeze(0).expand(num, -1, -1) for b in images
        ])
        feats = run([t for _ in images for t in token_lists],
                    slots_t.repeat(len(images)), visual)
        out.append(feats.view(len(images), num, -1))
    return torch.cat(out)


def check_visual_tokens(visual_tokens: Tensor, width: int,
                        supports_input_embeds: bool, lm: nn.Module) -> None:
    """Refuse visual tokens the LM cannot take.

    Args:
        visual_tokens (Tensor): ``[B, V, H]`` tokens.
        width (int): The LM's input width ``H``.
        supports_input_embeds (bool): Whether the LM takes embeddings.
        lm (nn.Module): The LM (for the message).
    """
    if not supports_input_embeds:
        raise ValueError(
            f'A visual prefix needs the input embeddings of the LM, but '
            f'{type(lm).__name__} gives no access to them.')
    if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != width:
        raise ValueError(
            f'visual_tokens must be [B, V, {width}] (the LM width), got '
            f'{tuple(visual_tokens.shape)}.')
