"""Single-stage detector whose classes are given by text."""
from typing import List, Optional, Sequence

from mmdet.models.detectors import SingleStageDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from mmvlm.models.utils import LanguageGuidedHeadMixin
from mmvlm.registry import DET_MODELS
from mmvlm.structures import VocabularyLike
from .language_guided_detector_mixin import LanguageGuidedDetectorMixin


@DET_MODELS.register_module()
class LanguageGuidedDetector(LanguageGuidedDetectorMixin, SingleStageDetector):
    """Any single-stage mmdet detector (ATSS, RetinaNet, FCOS, ...) with a
    language-guided head and an ``LLMPrefixNeck``.

    A stock config becomes language-guided by changing ``type`` to this
    class, the neck to ``LLMPrefixNeck`` wrapping the stock neck, and the
    head to its ``LanguageGuided*`` version.

    Args:
        backbone (dict): Backbone config.
        neck (dict): ``LLMPrefixNeck`` config (or a plain neck for a baked,
            language-model-free model).
        bbox_head (dict): Language-guided head config.
        vocabulary (str | Sequence | dict, optional): Vocabulary used when
            data samples carry no ``text`` (a baked model's classes,
            ``'LVISV1Dataset'``, prompts; see
            :meth:`mmvlm.structures.Vocabulary.parse`). Run-time prompts
            are set with :meth:`set_vocabulary`.
        vocabulary_label_ids (Sequence[int], optional): Dataset label id of
            each ``vocabulary`` entry; entry index when None.
        train_cfg, test_cfg, data_preprocessor, init_cfg: As
            :class:`SingleStageDetector`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType = None,
                 bbox_head: OptConfigType = None,
                 vocabulary: Optional[VocabularyLike] = None,
                 vocabulary_label_ids: Optional[Sequence[int]] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(backbone=backbone,
                         neck=neck,
                         bbox_head=bbox_head,
                         train_cfg=train_cfg,
                         test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self._init_vocabulary(vocabulary, vocabulary_label_ids)

    @property
    def language_guided_heads(self) -> List[LanguageGuidedHeadMixin]:
        """The bbox head, if language-guided."""
        return [self.bbox_head] if isinstance(self.bbox_head,
                                              LanguageGuidedHeadMixin) else []
