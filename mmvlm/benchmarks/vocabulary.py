"""Memory of encoding a large vocabulary with the text encoder.

Keys ``vocab_encode_peak_mb_<n>`` (``n`` = 1k, 20k names): the peak growth
of the process (RSS on CPU, allocated memory on CUDA) while
``HFTextEncoder.encode_vocabulary`` embeds ``n`` distinct class names
under ``torch.no_grad`` (MiniLM, 256-d projection, no templates), from an
empty text cache. Vocabularies of more than ``ENCODE_CHUNK`` prompts are
encoded chunk by chunk, so the growth is the ``[n, D]`` result, the token
lists and the bounded feature cache, not an ``[n, n]`` one-hot.
"""
import time
from typing import Callable

import torch

from mmvlm.benchmarks.segmentation import class_names
from mmvlm.benchmarks.timing import PeakMemory, progress
from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.testing import tiny_text_encoder_cfg


def vocab_key(count: int) -> str:
    """``vocab_encode_peak_mb_1k`` for 1000 names, ``..._20k`` for 20000."""
    label = f'{count // 1000}k' if count % 1000 == 0 else str(count)
    return f'vocab_encode_peak_mb_{label}'


def build_encoder(tiny_lm: bool, device: str) -> HFTextEncoder:
    """MiniLM with a 256-d projection, or (tests) a tiny random encoder.

    Names come from :func:`mmvlm.benchmarks.segmentation.class_names`
    (ADE20K, COCO-Stuff, ... then numbered variants: varied lengths).
    """
    cfg = dict(name_or_path='minilm', embed_dims=256)
    if tiny_lm:
        cfg = tiny_text_encoder_cfg('bert', embed_dims=256)
        cfg.pop('type')
    return HFTextEncoder(**cfg).to(device).eval()


def run_vocabulary(settings, out: dict, checkpoint: Callable[[],
                                                             None]) -> None:
    """Measure :func:`vocab_key` for each of ``settings.vocab_sizes``.

    Args:
        settings (BenchmarkSettings): ``vocab_sizes``, ``tiny_lm``,
            ``device``.
        out (dict): The run's ``keys`` / ``details`` / ``messages``.
        checkpoint (Callable): Called after each measurement.
    """
    encoder = build_encoder(settings.tiny_lm, settings.device)
    names = class_names(max(settings.vocab_sizes))
    for count in settings.vocab_sizes:
        progress(f'vocabulary: encoding {count} names')
        encoder.invalidate_cache()
        with torch.no_grad(), PeakMemory(settings.device) as memory:
            start = time.perf_counter()
            embeds = encoder.encode_vocabulary(names[:count])
            seconds = time.perf_counter() - start
        key = vocab_key(count)
        out['keys'][key] = round(memory.peak / 2**20, 1)
        out['details'][key] = dict(names=count,
                                   encode_s=round(seconds, 2),
                                   result_mb=round(
                                       embeds.numel() * 4 / 2**20, 1),
                                   lm_calls=encoder.lm_calls)
        del embeds
        checkpoint()
