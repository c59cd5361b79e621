"""Image-level models: language-guided mmpretrain classifiers and the
Frozen-style visual prefix classifier (imported when mmpretrain is
installed); the label mapping needs no mmpretrain."""
from mmvlm.registry import codebase_available
from .label_mapping import entry_scores_to_dataset, single_label_targets

__all__ = ['entry_scores_to_dataset', 'single_label_targets']
if codebase_available('mmpretrain'):
    from .frozen_prefix_classifier import FrozenPrefixClassifier
    from .language_guided_image_classifier import \
        LanguageGuidedImageClassifier
    __all__ += ['FrozenPrefixClassifier', 'LanguageGuidedImageClassifier']
