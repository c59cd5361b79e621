"""FCOS head whose class scores come from text embeddings."""
from mmdet.models.dense_heads import FCOSHead

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS


@DET_MODELS.register_module()
class LanguageGuidedFCOSHead(LanguageGuidedHeadMixin, FCOSHead):
    """:class:`mmdet.models.FCOSHead` with a contrastive classifier.

    ``conv_cls`` is replaced by a :class:`ContrastiveClassifier`.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of the classifier.
        *args, **kwargs: Arguments of :class:`FCOSHead`.
    """

    classifier_name = 'conv_cls'
