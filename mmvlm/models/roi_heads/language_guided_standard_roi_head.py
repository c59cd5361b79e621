"""Standard RoI head that tells a contrastive box classifier each RoI's
image, so that every image can have its own vocabulary."""
from typing import Tuple

from mmdet.models.roi_heads import StandardRoIHead
from torch import Tensor

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS


@DET_MODELS.register_module()
class LanguageGuidedStandardRoIHead(StandardRoIHead):
    """:class:`StandardRoIHead` for a language-guided box head.

    The RoIs of all images of a batch are classified together; with one
    vocabulary per image the classifier must know which image each RoI comes
    from. This head passes ``rois[:, 0]`` (the image index) to the
    classifier before every box forward; the rest is the stock code.
    """

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """Box head forward with the RoIs' image indices set.

        Args:
            x (tuple[Tensor]): Multi-level features.
            rois (Tensor): ``[N, 5]`` RoIs, first column the image index.

        Returns:
            dict: ``cls_score``, ``bbox_pred`` and ``bbox_feats``.
        """
        if isinstance(self.bbox_head, LanguageGuidedHeadMixin):
            self.bbox_head.classifier.set_batch_index(rois[:, 0])
        return super()._bbox_forward(x, rois)
