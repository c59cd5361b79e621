from .contrastive_classifier import (MASKED_LOGIT, ContrastiveClassifier,
                                     prior_prob_to_bias)
from .language_guided_head_mixin import LanguageGuidedHeadMixin

__all__ = [
    'ContrastiveClassifier', 'LanguageGuidedHeadMixin', 'MASKED_LOGIT',
    'prior_prob_to_bias'
]
