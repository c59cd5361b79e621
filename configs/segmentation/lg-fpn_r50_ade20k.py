# Language-guided Semantic FPN (R50) on ADE20K-150.
# mmseg's own FPN config, with the class layer replaced by pixel-text scoring
# against the offline MiniLM embeddings of the 150 class names.
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# a non-finite loss or gradient is never applied nor checkpointed
custom_hooks = [dict(type='FiniteCheckHook')]

embed_dims = 256
model = dict(
    type='LanguageGuidedEncoderDecoder',
    # classes of the samples' `text` when the pipeline adds them, else the
    # dataset's class names
    vocabulary='ADE20KDataset',
    neck=dict(_delete_=True,
              type='LLMPrefixNeck',
              neck={{_base_.model.neck}},
              text_encoder=dict(type='HFTextEncoder',
                                name_or_path='minilm',
                                embed_dims=embed_dims,
                                templates=['a photo of a {}.'])),
    decode_head=dict(type='LanguageGuidedFPNHead', embed_dims=embed_dims))
