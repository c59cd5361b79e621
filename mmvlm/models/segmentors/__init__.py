"""Language-guided mmseg segmentors."""
from .language_guided_encoder_decoder import LanguageGuidedEncoderDecoder

__all__ = ['LanguageGuidedEncoderDecoder']
