"""mmpretrain's ``LinearClsHead`` scoring against class texts."""
from typing import Optional

from mmpretrain.models.heads import LinearClsHead

from mmvlm.models.utils.language_guided_head_mixin import \
    LanguageGuidedHeadMixin
from mmvlm.registry import CLS_MODELS
from .image_rows_mixin import ImageRowsMixin


@CLS_MODELS.register_module()
class LanguageGuidedClsHead(ImageRowsMixin, LanguageGuidedHeadMixin,
                            LinearClsHead):
    """The stock ``LinearClsHead`` whose ``fc`` is a contrastive classifier.

    Inside ``head.vocabulary(text_embeds, text_mask)`` (the
    :class:`LanguageGuidedImageClassifier` enters it) the head returns
    ``[B, K]`` logits over the current vocabulary; the stock softmax
    cross-entropy loss and ``predict`` (softmax, arg-max) run unchanged.

    Args:
        num_classes (int): Classes of the closed-set twin (the dataset's;
            the vocabulary decides ``K`` at run time).
        in_channels (int): Width of the pooled visual feature.
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Keyword arguments of
            :class:`mmvlm.models.layers.ContrastiveClassifier`; the shared
            bias starts at 0 (a softmax needs no prior).
        **kwargs: Arguments of ``LinearClsHead`` (``loss``, ``topk``,
            ``cal_acc``, ``init_cfg``).
    """

    classifier_name = 'fc'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 **kwargs) -> None:
        classifier = dict(classifier or {})
        classifier.setdefault('bias_prior_prob', None)
        super().__init__(num_classes=num_classes,
                         in_channels=in_channels,
                         embed_dims=embed_dims,
                         classifier=classifier,
                         **kwargs)
