# Language-guided semantic FPN: the stock model of ./fpn_efficientnet-lite0.py
# with text-defined classes. Only three keys change:
# - type: LanguageGuidedEncoderDecoder;
# - the neck wraps the stock FPN in LLMPrefixNeck, whose text side is the
#   offline MiniLM (all-MiniLM-L6-v2, frozen) with a learnable 4-token
#   prefix and a projection to 64 channels;
# - the decode head is FPNHead with `conv_seg` replaced by a pixel-text
#   contrastive classifier; the class names are the prompts.
_base_ = './fpn_efficientnet-lite0.py'

embed_dims = 64
model = dict(
    type='LanguageGuidedEncoderDecoder',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder=dict(
            type='HFTextEncoder',
            name_or_path='minilm',
            embed_dims=embed_dims,
            prefix_length=4)),
    decode_head=dict(type='LanguageGuidedFPNHead', embed_dims=embed_dims))
