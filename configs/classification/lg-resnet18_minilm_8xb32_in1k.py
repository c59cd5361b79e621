# Language-guided ResNet-18 on ImageNet: the stock mmpretrain config with
# class scores from text (frozen MiniLM encodes the 1000 class names).
# Only the keys below differ from mmpretrain's own file.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

model = dict(
    type='LanguageGuidedImageClassifier',
    neck=dict(_delete_=True,
              type='LLMPrefixNeck',
              neck=dict(type='GlobalAveragePooling'),
              text_encoder=dict(type='HFTextEncoder',
                                name_or_path='minilm',
                                embed_dims=256,
                                templates=['a photo of a {}.'])),
    head=dict(type='LanguageGuidedClsHead',
              num_classes=1000,
              in_channels=512,
              embed_dims=256),
    # mmengine's runner gives models no dataset classes: name them
    # (an mmpretrain dataset type name reads its METAINFO classes).
    vocabulary='ImageNet')
