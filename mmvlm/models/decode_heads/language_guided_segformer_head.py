"""Language-guided SegFormer (all-MLP) decode head."""
from mmseg.models.decode_heads import SegformerHead

from mmvlm.registry import SEG_MODELS
from .language_guided_decode_head_mixin import LanguageGuidedDecodeHeadMixin
from .score_map_mixin import ScoreMapMixin


@SEG_MODELS.register_module()
class LanguageGuidedSegformerHead(ScoreMapMixin, LanguageGuidedDecodeHeadMixin,
                                  SegformerHead):
    """Stock mmseg :class:`SegformerHead` with text-defined classes.

    SegFormer's all-MLP head.

    ``conv_seg`` is a pixel-text contrastive classifier; every other layer and
    the loss / predict code are the stock head's. See
    :class:`LanguageGuidedDecodeHeadMixin` for the vocabulary, binary and
    learnable-background options and :class:`ScoreMapMixin` for DenseCLIP
    score maps.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra :class:`ContrastiveClassifier`
            arguments.
        learnable_background (bool): Learned embedding for the background
            entry. Default False.
        background_index (int): Vocabulary index of the background. Default 0.
        score_map (dict, optional): DenseCLIP score-map option.
        **kwargs: Arguments of :class:`SegformerHead`.
    """
