"""mmpretrain's ``MultiLabelLinearClsHead`` scoring against class texts."""
from typing import Optional

from mmpretrain.models.heads import MultiLabelLinearClsHead

from mmvlm.models.utils.language_guided_head_mixin import \
    LanguageGuidedHeadMixin
from mmvlm.registry import CLS_MODELS
from .image_rows_mixin import ImageRowsMixin


@CLS_MODELS.register_module()
class LanguageGuidedMultiLabelClsHead(ImageRowsMixin, LanguageGuidedHeadMixin,
                                      MultiLabelLinearClsHead):
    """The stock ``MultiLabelLinearClsHead`` (sigmoid, one-vs-rest) whose
    ``fc`` is a contrastive classifier.

    Inside ``head.vocabulary(...)`` it returns ``[B, K]`` logits; the stock
    sigmoid loss (targets one-hot over ``K``) and ``predict`` (threshold or
    top-k) run unchanged.

    Args:
        num_classes (int): Classes of the closed-set twin.
        in_channels (int): Width of the pooled visual feature.
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Keyword arguments of
            :class:`mmvlm.models.layers.ContrastiveClassifier` (its default
            ``bias_prior_prob=0.01`` suits sparse positives).
        **kwargs: Arguments of ``MultiLabelLinearClsHead`` (``loss``,
            ``thr``, ``topk``, ``init_cfg``).
    """

    classifier_name = 'fc'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(num_classes=num_classes,
                         in_channels=in_channels,
                         embed_dims=embed_dims,
                         classifier=classifier,
                         **kwargs)
