# Prompt-driven binary UNet: mmseg's FCN-UNet (S5-D16) whose class layer
# scores pixels against one foreground prompt (mmseg binary convention:
# out_channels=1, sigmoid loss, threshold). The medical dataset config sets
# `model.vocabulary` (its dataset's prompt); crop and slide window match the
# 256x256 crops of the medical data bases.
_base_ = 'mmseg::_base_/models/fcn_unet_s5-d16.py'

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# stop at the first non-finite loss or gradient; never checkpoint NaN weights
custom_hooks = [dict(type='FiniteCheckHook')]

embed_dims = 256
data_preprocessor = dict(size=(256, 256))
model = dict(
    type='LanguageGuidedEncoderDecoder',
    data_preprocessor=data_preprocessor,
    neck=dict(type='LLMPrefixNeck',
              neck=None,
              text_encoder=dict(type='HFTextEncoder',
                                name_or_path='minilm',
                                embed_dims=embed_dims)),
    decode_head=dict(type='LanguageGuidedFCNHead',
                     embed_dims=embed_dims,
                     num_classes=2,
                     out_channels=1,
                     threshold=0.5,
                     loss_decode=dict(type='CrossEntropyLoss',
                                      use_sigmoid=True,
                                      loss_weight=1.0)),
    auxiliary_head=None,
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(170, 170)))
