# Prompt-driven binary polyp segmentation on Kvasir-SEG: one sigmoid mask for
# the prompt 'polyp' (mmseg binary convention: out_channels=1, threshold).
_base_ = [
    'mmseg::_base_/models/fcn_unet_s5-d16.py',
    '../_base_/datasets/kvasir_seg.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

embed_dims = 256
crop_size = (256, 256)
data_preprocessor = dict(size=crop_size)
model = dict(
    type='LanguageGuidedEncoderDecoder',
    data_preprocessor=data_preprocessor,
    # the class prompts of the dataset metainfo (METAINFO['prompts'])
    vocabulary='KvasirSEGDataset',
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
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(170, 170)))
