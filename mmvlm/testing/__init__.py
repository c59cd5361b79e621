"""Test helpers of mmvlm: tiny models that build offline in milliseconds."""
from .tiny_models import (TINY_TOKENIZERS, build_tiny_bpe_tokenizer,
                          tiny_text_encoder_cfg)

__all__ = [
    'TINY_TOKENIZERS', 'build_tiny_bpe_tokenizer', 'tiny_text_encoder_cfg'
]
