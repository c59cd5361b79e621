# Language-guided UPerNet (R50) on ADE20K-150, language-guided FCN auxiliary
# head; mmseg's own UPerNet config otherwise.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# a non-finite loss or gradient is never applied nor checkpointed
custom_hooks = [dict(type='FiniteCheckHook')]

embed_dims = 256
model = dict(
    type='LanguageGuidedEncoderDecoder',
    vocabulary='ADE20KDataset',
    # UPerNet has no neck: the text neck wraps none and only encodes texts
    neck=dict(type='LLMPrefixNeck',
              neck=None,
              text_encoder=dict(type='HFTextEncoder',
                                name_or_path='minilm',
                                embed_dims=embed_dims,
                                templates=['a photo of a {}.'])),
    decode_head=dict(type='LanguageGuidedUPerHead', embed_dims=embed_dims),
    auxiliary_head=dict(type='LanguageGuidedFCNHead', embed_dims=embed_dims))
