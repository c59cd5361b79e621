"""Shared2FC RoI box head whose class scores come from text embeddings."""
from typing import Dict, Optional

import torch
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from torch import Tensor

from mmvlm.models.utils import LanguageGuidedHeadMixin
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

    # ------------------------------------------------ stock checkpoints
    def take_stock_tensors(self, state_dict: dict,
                           prefix: str) -> Dict[str, Tensor]:
        """The stock ``fc_cls`` and, from a class-specific stock regressor
        (``[4 * num_classes, C]``; this head's is class agnostic,
        ``[4, C]``), ``fc_reg``."""
        taken = super().take_stock_tensors(state_dict, prefix)
        own = getattr(self, 'fc_reg', None)
        for name in ('weight', 'bias'):
            key = f'{prefix}fc_reg.{name}'
            value = state_dict.get(key)
            if (own is not None and value is not None
                    and value.shape[0] != getattr(own, name).shape[0]
                    and value.shape[0] % 4 == 0):
                taken[key] = state_dict.pop(key)
        return taken

    @torch.no_grad()
    def warm_start_from_stock(self, text_embeds: Tensor) -> Dict[str, str]:
        """Also initialise the class-agnostic ``fc_reg`` from a
        class-specific stock one: the mean over classes of the per-class
        regressors (an approximation: the stock model regresses each box
        with its predicted class's regressor)."""
        used = super().warm_start_from_stock(text_embeds)
        for key, value in self.stock_tensors.items():
            name = key.rsplit('.', 2)
            if name[-2] != 'fc_reg':
                continue
            param = getattr(self.fc_reg, name[-1])
            mean = value.reshape(-1, 4, *value.shape[1:]).mean(0)
            param.copy_(mean.to(param.device, param.dtype))
            used[key] = ('mean over classes into the class-agnostic '
                         'regressor (approximate)')
        return used
