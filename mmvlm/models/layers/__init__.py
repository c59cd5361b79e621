from .contrastive_classifier import (MASKED_LOGIT, ContrastiveClassifier,
                                     prior_prob_to_bias)
from .text_cross_attention_fusion import TextCrossAttentionFusion
from .text_gated_fusion import TextGatedFusion
from .visual_prefix import VisualPrefixProjector

__all__ = [
    'ContrastiveClassifier', 'MASKED_LOGIT',
    'prior_prob_to_bias', 'TextCrossAttentionFusion', 'TextGatedFusion',
    'VisualPrefixProjector'
]
