"""ATSS head whose class scores come from text embeddings."""
from mmdet.models.dense_heads import ATSSHead

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS


@DET_MODELS.register_module()
class LanguageGuidedATSSHead(LanguageGuidedHeadMixin, ATSSHead):
    """:class:`mmdet.models.ATSSHead` with a contrastive classifier.

    ``atss_cls`` is replaced by a :class:`ContrastiveClassifier`; everything
    else (assigner, focal loss, centerness, NMS) is the stock ATSS code run
    with ``num_classes`` equal to the current vocabulary size.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of the classifier.
        *args, **kwargs: Arguments of :class:`ATSSHead`.
    """

    classifier_name = 'atss_cls'
