"""Language-guided mmseg segmentors."""
from .language_guided_encoder_decoder import (LanguageGuidedEncoderDecoder,
                                              parse_vocabulary)

__all__ = ['LanguageGuidedEncoderDecoder', 'parse_vocabulary']
