"""Two-stage detector whose classes are given by text."""
from typing import List, Optional, Sequence

from mmdet.models.detectors import TwoStageDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import nn

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS
from mmvlm.structures import VocabularyLike
from .language_guided_detector_mixin import LanguageGuidedDetectorMixin


@DET_MODELS.register_module()
class LanguageGuidedTwoStageDetector(LanguageGuidedDetectorMixin,
                                     TwoStageDetector):
    """Faster R-CNN family detector with a language-guided RoI box head.

    The RPN stays class agnostic; the RoI box head
    (:class:`LanguageGuidedBBoxHead` inside
    :class:`LanguageGuidedStandardRoIHead`) scores RoIs against the text.

    Args:
        backbone, neck, rpn_head, roi_head, train_cfg, test_cfg,
            data_preprocessor, init_cfg: As :class:`TwoStageDetector`; the
            neck is an ``LLMPrefixNeck`` (or a plain neck when baked).
        vocabulary (str | Sequence | dict, optional): Vocabulary used when
            data samples carry no ``text`` (see
            :meth:`mmvlm.structures.Vocabulary.parse`).
        vocabulary_label_ids (Sequence[int], optional): Dataset label id of
            each ``vocabulary`` entry.
    """

    def __init__(self,
                 backbone: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: ConfigType,
                 test_cfg: ConfigType,
                 neck: OptConfigType = None,
                 vocabulary: Optional[VocabularyLike] = None,
                 vocabulary_label_ids: Optional[Sequence[int]] = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(backbone=backbone,
                         neck=neck,
                         rpn_head=rpn_head,
                         roi_head=roi_head,
                         train_cfg=train_cfg,
                         test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self._init_vocabulary(vocabulary, vocabulary_label_ids)

    @property
    def language_guided_heads(self) -> List[LanguageGuidedHeadMixin]:
        """The RoI box head(s) that are language-guided."""
        bbox_head = getattr(self.roi_head, 'bbox_head', None)
        heads = bbox_head if isinstance(bbox_head,
                                        nn.ModuleList) else [bbox_head]
        return [h for h in heads if isinstance(h, LanguageGuidedHeadMixin)]
