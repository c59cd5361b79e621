"""Text encoders: Hugging Face language models as the text side."""
from .hf_text_encoder import HFTextEncoder
from .model_sources import (MODEL_ALIASES, ModelSource, resolve_model_source,
                            smollm2_converted_dir)
from .text_embedding_cache import TextEmbeddingCache
from .text_pooling import POOLING_MODES, pool_hidden_states
from .vocabulary import (expand_prompts, normalize_templates,
                         normalize_vocabulary)

__all__ = [
    'HFTextEncoder', 'MODEL_ALIASES', 'ModelSource', 'resolve_model_source',
    'smollm2_converted_dir', 'TextEmbeddingCache', 'POOLING_MODES',
    'pool_hidden_states', 'expand_prompts', 'normalize_templates',
    'normalize_vocabulary'
]
