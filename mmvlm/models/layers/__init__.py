from .contrastive_classifier import (MASKED_LOGIT, ContrastiveClassifier,
                                     prior_prob_to_bias)
from .language_guided_head_mixin import LanguageGuidedHeadMixin
from .text_cross_attention_fusion import TextCrossAttentionFusion
from .text_gated_fusion import TextGatedFusion
from .visual_prefix import VisualPrefixProjector

__all__ = [
    'ContrastiveClassifier', 'LanguageGuidedHeadMixin', 'MASKED_LOGIT',
    'prior_prob_to_bias', 'TextCrossAttentionFusion', 'TextGatedFusion',
    'VisualPrefixProjector'
]
