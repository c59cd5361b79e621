"""Text encoders: Hugging Face language models as the text side.

``HFTextEncoder`` (hf_text_encoder.py) orchestrates: model and tokenizer
loading (hf_loading.py, model_sources.py, hf_model_info.py), prompt learners
(prompt_learners.py), LoRA and checkpoint rules (lm_training.py),
tokenization (prompt_tokenizer.py), the LM call (lm_forward.py), pooling
(text_pooling.py) and the feature cache (text_embedding_cache.py).
Differences between transformers releases are handled in hf_compat.py.
"""
from .hf_loading import TOKENIZERS
from .hf_text_encoder import HFTextEncoder
from .model_sources import (MODEL_ALIASES, OFFLINE_MODELS, ModelSource,
                            OfflineModel, resolve_model_source,
                            smollm2_converted_dir)
from .prompt_learners import (ClassPromptPrefix, DeepPromptPrefix,
                              PromptPrefix)
from .text_embedding_cache import TextEmbeddingCache
from .text_pooling import POOLING_MODES, pool_hidden_states

__all__ = [
    'HFTextEncoder', 'TOKENIZERS', 'MODEL_ALIASES', 'OFFLINE_MODELS',
    'ModelSource', 'OfflineModel', 'resolve_model_source',
    'smollm2_converted_dir', 'PromptPrefix', 'ClassPromptPrefix',
    'DeepPromptPrefix', 'TextEmbeddingCache', 'POOLING_MODES',
    'pool_hidden_states'
]
