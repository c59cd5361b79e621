"""RetinaNet head whose class scores come from text embeddings."""
from mmdet.models.dense_heads import RetinaHead

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS


@DET_MODELS.register_module()
class LanguageGuidedRetinaHead(LanguageGuidedHeadMixin, RetinaHead):
    """:class:`mmdet.models.RetinaHead` with a contrastive classifier.

    ``retina_cls`` is replaced by a :class:`ContrastiveClassifier` that
    scores each of the ``A`` anchors of a location against the vocabulary.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of the classifier.
        *args, **kwargs: Arguments of :class:`RetinaHead`.
    """

    classifier_name = 'retina_cls'
