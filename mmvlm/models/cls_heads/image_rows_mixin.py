"""Per-image vocabularies for heads that score one feature row per image."""
from typing import Optional

import torch
from torch import Tensor


class ImageRowsMixin:
    """Give the contrastive classifier the image index of each row.

    A classification head scores one pooled row per image, so row ``i``
    belongs to image ``i``: a per-image vocabulary ``[B, K, D]`` is
    entered with ``batch_index = arange(B)`` (a linear classifier needs it,
    as a RoI head's does). Put it before the language-guided head mixin.
    """

    def vocabulary(self,
                   text_embeds: Tensor,
                   text_mask: Optional[Tensor] = None,
                   batch_index: Optional[Tensor] = None):
        """See :meth:`LanguageGuidedHeadMixin.vocabulary`."""
        if batch_index is None and text_embeds.dim() == 3:
            batch_index = torch.arange(text_embeds.shape[0],
                                       device=text_embeds.device)
        return super().vocabulary(text_embeds, text_mask, batch_index)
