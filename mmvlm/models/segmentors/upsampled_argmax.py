"""Arg-max of up-sampled logits without up-sampling every class.

The stock post-processing of a segmentor resizes the ``[K, h, w]`` logits of
the decode head to full resolution and takes the arg-max over ``K`` classes,
so its cost grows with classes x full-resolution pixels. Only the classes
that can win somewhere need the full-resolution values:
:func:`upsampled_argmax` computes them exactly, through the same resize
function and on tensors laid out as in the stock path, for a few blocks of
candidate classes, and proves with an upper bound that no other class
reaches the best value anywhere. The result is bit-identical to
``to_full(logits).argmax(0)`` (first index on ties), by construction:

* every full-resolution value it compares comes from ``to_full`` itself;
* a class is skipped only when ``to_full`` of the low-resolution maximum
  over all skipped classes plus a margin for rounding stays below the best
  computed value at every pixel: bilinear resizes, crops and flips mix
  low-resolution values with non-negative weights, so ``to_full`` of the
  maximum bounds every skipped class from above;
* candidate blocks keep ``block`` channels (a multiple of every CPU vector
  width) and the last ``K mod block`` classes are resized as the stock tail
  block, so every class goes through the same vectorised or scalar code as
  in the single ``K``-channel resize (channels-last CPU kernels compute the
  channels of a vector and the remainder with different rounding).
"""
from typing import Callable

import torch
from torch import Tensor

#: Candidate classes are resized in blocks of this many channels.
BLOCK = 64


def _first_argmax(values: Tensor, classes: Tensor):
    """Best value and its class per pixel, lowest class id on ties.

    Args:
        values (Tensor): ``[n, H, W]`` full-resolution values.
        classes (Tensor): ``[n]`` class id of each channel, ascending.

    Returns:
        tuple[Tensor, Tensor]: ``[H, W]`` best values and class ids.
    """
    index = values.argmax(dim=0, keepdim=True)
    best = values.gather(0, index)[0]
    return best, classes[index[0]]


def upsampled_argmax(logits: Tensor,
                     to_full: Callable[[Tensor], Tensor],
                     block: int = BLOCK) -> Tensor:
    """``to_full(logits).argmax(0)``, resizing only the candidate classes.

    Args:
        logits (Tensor): ``[K, h, w]`` low-resolution logits (finite).
        to_full (Callable): Maps ``[n, h, w]`` logits of ``n`` classes to
            their ``[n, H, W]`` full-resolution values, one class
            independently of the others (bilinear resizes, crops, flips). It
            must be the function of the reference path, so the values are
            the same bits. Its weights must be non-negative (bilinear,
            nearest, crops, flips; not bicubic).
        block (int): Channels per candidate block (a multiple of the CPU
            vector width: 64 covers 8, 16 and 32 lanes).

    Returns:
        Tensor: ``[H, W]`` int64 class ids, equal to
        ``to_full(logits).argmax(0)``.
    """
    num_classes = logits.shape[0]
    if num_classes <= 2 * block:
        return to_full(logits).argmax(dim=0)
    # The stock resize's tail: the last K mod block classes, resized as one
    # block of that many channels (with one more full block when that would
    # leave a single channel, whose layout reads as contiguous).
    tail_start = block * (num_classes // block)
    if num_classes - tail_start == 1:
        tail_start -= block
    device = logits.device
    best = arg = None
    if tail_start < num_classes:
        classes = torch.arange(tail_start, num_classes, device=device)
        best, arg = _first_argmax(to_full(logits[tail_start:]), classes)

    # Candidates, most promising first: how close each class comes to the
    # low-resolution winner anywhere (0 for the winners themselves).
    head = logits[:tail_start]
    winner = logits.max(dim=0).values
    closeness = (head - winner).amax(dim=(1, 2))
    order = torch.argsort(closeness, descending=True, stable=True)
    num_winners = int((closeness >= 0).sum())
    take = max(block, -(-num_winners // block) * block)
    done = 0
    while done < tail_start:
        ids = order[done:done + take]
        done += ids.numel()
        ids = ids.sort().values
        if ids.numel() < block:  # pad with a repeated class
            ids = torch.cat([ids, ids[:1].expand(block - ids.numel())])
        values = to_full(head[ids])
        block_best, block_arg = _first_argmax(values, ids)
        if best is None:
            best, arg = block_best, block_arg
        else:
            better = (block_best > best) | ((block_best == best) &
                                            (block_arg < arg))
            best = torch.where(better, block_best, best)
            arg = torch.where(better, block_arg, arg)
        if done >= tail_start:
            break
        # Upper bound of every class not resized yet, at full resolution.
        rest = head[order[done:]].amax(dim=0, keepdim=True)
        bound = to_full(rest)[0]
        margin = 1e-5 * (1 + max(float(bound.abs().max()),
                                 float(best.abs().max())))
        if bool((bound + margin < best).all()):
            break
        take = block
    return arg
