"""Shared2FC RoI box head whose class scores come from text embeddings."""
from typing import Optional

from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead

from mmvlm.models.layers import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS


@DET_MODELS.register_module()
class LanguageGuidedBBoxHead(LanguageGuidedHeadMixin, Shared2FCBBoxHead):
    """:class:`Shared2FCBBoxHead` with a contrastive ``fc_cls``.

    The stock RoI head scores ``K + 1`` classes with a softmax, the last one
    being background. The contrastive classifier therefore carries a
    learnable background embedding (``background=True``) appended after the
    ``K`` text embeddings, and no prior-probability bias.

    Box regression must be class agnostic: a class-specific regressor has
    ``4 * num_classes`` outputs fixed at build time, which cannot follow a
    vocabulary that changes from batch to batch.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of the classifier;
            ``background=True`` and ``bias_prior_prob=None`` by default.
        *args, **kwargs: Arguments of :class:`Shared2FCBBoxHead`.
    """

    classifier_name = 'fc_cls'

    def __init__(self,
                 *args,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 **kwargs) -> None:
        if not kwargs.get('reg_class_agnostic', False):
            raise ValueError(
                'LanguageGuidedBBoxHead needs reg_class_agnostic=True: a '
                'class-specific box regressor has 4 * num_classes outputs '
                'fixed at build time, while the classes of a language-guided '
                'detector come from the text. Set '
                'model.roi_head.bbox_head.reg_class_agnostic=True.')
        classifier_cfg = dict(background=True, bias_prior_prob=None)
        classifier_cfg.update(classifier or {})
        if not classifier_cfg['background']:
            raise ValueError('LanguageGuidedBBoxHead scores K + 1 classes '
                             '(softmax with background): classifier.'
                             'background must be True.')
        super().__init__(
            *args, embed_dims=embed_dims, classifier=classifier_cfg, **kwargs)
        if self.custom_cls_channels:
            raise ValueError(
                f'{type(self.loss_cls).__name__} sets custom class channels, '
                'which a contrastive classifier cannot follow; use the '
                'softmax CrossEntropyLoss.')

    def _set_num_classes(self, num_classes: int) -> None:
        """Set ``K``; the classifier itself appends the background score."""
        self.num_classes = num_classes
