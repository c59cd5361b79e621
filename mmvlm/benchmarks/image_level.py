"""Generative class scoring with a reused visual-prefix KV cache versus a
naive full re-run per class (:class:`FrozenPrefixLM`).

``python -m mmvlm.benchmarks.image_level`` (``--full`` for SmolLM2-135M)
prints the dictionary returned by :func:`run_image_level_benchmark`.
"""
import argparse
import json
import time
from typing import Dict, List, Optional

import torch

from mmvlm.models.layers.frozen_visual_prefix import FrozenPrefixLM

_PARTS = ('left', 'right', 'superior', 'middle', 'inferior', 'anterior',
          'posterior', 'medial', 'lateral', 'orbital')
_REGIONS = ('frontal gyrus', 'temporal gyrus', 'occipital gyrus',
            'cingulate gyrus', 'parietal lobule', 'cerebellar lobule',
            'insula', 'thalamus', 'caudate nucleus', 'hippocampus')


def class_names(num: int) -> List[str]:
    """``num`` distinct region-like names of 2-6 tokens."""
    names = [f'{p} {r}' for r in _REGIONS for p in _PARTS]
    if num > len(names):
        raise ValueError(f'At most {len(names)} names, asked for {num}.')
    return names[:num]


def _tiny_llama():
    """A random Llama (4 layers, 256 wide) and the code-built tokenizer."""
    from transformers import LlamaConfig, LlamaModel

    from mmvlm.testing import build_tiny_bpe_tokenizer
    tokenizer = build_tiny_bpe_tokenizer(add_bos=True)
    config = LlamaConfig(vocab_size=len(tokenizer),
                         hidden_size=256,
                         num_hidden_layers=4,
                         num_attention_heads=4,
                         num_key_value_heads=2,
                         intermediate_size=512,
                         max_position_embeddings=128,
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    return LlamaModel(config).eval(), tokenizer, 'random Llama 4x256'


def _smollm2():
    from mmvlm.models.text_encoders import HFTextEncoder
    encoder = HFTextEncoder(name_or_path='smollm2-135m', embed_dims=None)
    return encoder.lm, encoder.tokenizer, 'SmolLM2-135M'


def _best_time(fn, repeats: int) -> float:
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_image_level_benchmark(quick: bool = True,
                              num_classes: int = 100,
                              num_images: int = 1,
                              num_visual_tokens: int = 4,
                              repeats: Optional[int] = None,
                              threads: int = 1) -> Dict[str, object]:
    """Time cached and naive generative scoring of ``num_classes`` names.

    Args:
        quick (bool): A random 4-layer Llama built in code (seconds); False:
            SmolLM2-135M from its PyPI package.
        num_classes (int): Class names scored per image. Default 100.
        num_images (int): Images per call. Default 1.
        num_visual_tokens (int): Visual tokens per image. Default 4.
        repeats (int, optional): Timed runs (best kept); default 3 quick,
            2 full.
        threads (int): torch threads while timing. Default 1.

    Returns:
        dict: model, sizes, ``cached_s``, ``naive_s``, ``speedup`` and the
        largest score difference ``max_abs_diff``.
    """
    lm, tokenizer, model_name = _tiny_llama() if quick else _smollm2()
    repeats = repeats or (3 if quick else 2)
    scorer = FrozenPrefixLM(lm, tokenizer, names_per_chunk=num_classes)
    names = class_names(num_classes)
    hidden = scorer.head_weight.shape[1]
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(num_images, num_visual_tokens, hidden,
                         generator=gen) * 0.02
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            cached = scorer.score_names(visual, names)
            naive = scorer.score_names_naive(visual, names)
            cached_s = _best_time(lambda: scorer.score_names(visual, names),
                                  repeats)
            naive_s = _best_time(
                lambda: scorer.score_names_naive(visual, names), repeats)
    finally:
        torch.set_num_threads(saved_threads)
    return dict(model=model_name,
                num_classes=num_classes,
                num_images=num_images,
                prefix_tokens=int(scorer.prefix_embeds(visual).shape[1]),
                name_tokens_max=max(len(scorer.name_ids(n)) for n in names),
                threads=threads,
                cached_s=round(cached_s, 4),
                naive_s=round(naive_s, 4),
                speedup=round(naive_s / cached_s, 2),
                max_abs_diff=float((cached - naive).abs().max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--full',
                        action='store_true',
                        help='SmolLM2-135M instead of a random tiny Llama')
    parser.add_argument('--num-classes', type=int, default=100)
    parser.add_argument('--num-images', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    print(
        json.dumps(run_image_level_benchmark(quick=not args.full,
                                             num_classes=args.num_classes,
                                             num_images=args.num_images,
                                             threads=args.threads),
                   indent=2))


if __name__ == '__main__':
    main()
