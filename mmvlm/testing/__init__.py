"""Test helpers of mmvlm: tiny models that build offline in milliseconds."""
from .tiny_detectors import (TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg,
                             tiny_bbox_head_cfg)
from .tiny_models import (TINY_TOKENIZERS, build_tiny_bpe_tokenizer,
                          tiny_bpe_tokenizer_cfg, tiny_text_encoder_cfg)

__all__ = [
    'TINY_ATSS_TRAIN_CFG', 'TINY_TOKENIZERS', 'build_tiny_bpe_tokenizer',
    'tiny_atss_head_cfg', 'tiny_bbox_head_cfg', 'tiny_bpe_tokenizer_cfg',
    'tiny_text_encoder_cfg'
]
