"""mmpretrain's ``LinearClsHead`` scoring against class texts."""
from typing import Optional, Tuple

from mmpretrain.models.heads import LinearClsHead
from torch import Tensor, nn

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
        hidden_dims (int, optional): Width of a hidden layer (``Linear`` +
            GELU) between the pooled feature and the classifier's linear
            embedding: a non-linear map of the visual feature into the
            text space. None (default): the linear embedding alone.
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
                 hidden_dims: Optional[int] = None,
                 classifier: Optional[dict] = None,
                 **kwargs) -> None:
        if hidden_dims is not None and hidden_dims < 1:
            raise ValueError(f'hidden_dims={hidden_dims!r}: use None (no '
                             'hidden layer) or a positive width.')
        classifier = dict(classifier or {})
        classifier.setdefault('bias_prior_prob', None)
        super().__init__(num_classes=num_classes,
                         in_channels=hidden_dims or in_channels,
                         embed_dims=embed_dims,
                         classifier=classifier,
                         **kwargs)
        self.hidden = (nn.Sequential(nn.Linear(in_channels, hidden_dims),
                                     nn.GELU())
                       if hidden_dims is not None else None)

    def pre_logits(self, feats: Tuple[Tensor]) -> Tensor:
        """The last pooled feature ``[B, C]``, through the hidden layer
        when there is one (``[B, hidden_dims]``)."""
        x = super().pre_logits(feats)
        return x if self.hidden is None else self.hidden(x)
