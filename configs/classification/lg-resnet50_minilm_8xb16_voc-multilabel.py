# Language-guided multi-label ResNet-50 on PASCAL VOC 2007: one sigmoid
# score per class name (frozen MiniLM), evaluated by the stock
# MultiLabelMetric / VOCMultiLabelMetric of mmpretrain's VOC base.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/voc_bs16.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py'
]

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

model = dict(type='LanguageGuidedImageClassifier',
             neck=dict(_delete_=True,
                       type='LLMPrefixNeck',
                       neck=dict(type='GlobalAveragePooling'),
                       text_encoder=dict(type='HFTextEncoder',
                                         name_or_path='minilm',
                                         embed_dims=256,
                                         templates=['a photo of a {}.'])),
             head=dict(_delete_=True,
                       type='LanguageGuidedMultiLabelClsHead',
                       num_classes=20,
                       in_channels=2048,
                       embed_dims=256,
                       thr=0.5),
             vocabulary='VOC')
