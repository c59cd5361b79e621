# Stock mmpretrain ImageClassifier on the single-concept crops: the frozen
# ImageNet EfficientNet-Lite0, global average pooling and a LinearClsHead
# over the 574 seen names (closed set: it cannot score a held-out name).
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

model = dict(
    type='ImageClassifier',
    backbone={{_base_.backbone}},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=574,
        in_channels=320,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)),
    data_preprocessor={{_base_.data_preprocessor}})
