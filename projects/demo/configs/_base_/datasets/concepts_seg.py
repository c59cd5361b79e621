# The demo's many-concept segmentation data (192x192 scenes of named artwork
# on aerial photos; projects/demo/mmvlm_demo/concept_data.py writes it), for
# stock segmentors: background + a closed set over the 574 seen names.
# One set of 16-bit label maps (value i = ../texts/concepts.py value_names[i])
# serves every split: NamedLabelMapDataset maps the values to the classes a
# split asks, LoadWideSegMap reads them without mmseg's 8-bit cast.
# Training: the seen concepts in EmojiOne art; test: the seen concepts in a
# fresh layout (`test_seen_emojione`); the other splits are asked by
# projects/demo/mmvlm_demo/concept_eval.py.
_base_ = '../texts/concepts.py'  # seg_classes, value_names

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/concepts/'
metainfo = dict(classes={{_base_.seg_classes}}, palette=[(255, 96, 0)] * 575)
# 575 classes: mmseg's default ignore value 255 is a class index here
ignore_index = 65535
batch_size = 8

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWideSegMap'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWideSegMap'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='NamedLabelMapDataset',
        value_names={{_base_.value_names}},
        ignore_index=ignore_index,
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(
            img_path='images/train', seg_map_path='seg_maps/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='NamedLabelMapDataset',
        value_names={{_base_.value_names}},
        ignore_index=ignore_index,
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(
            img_path='images/test_seen_emojione',
            seg_map_path='seg_maps/test_seen_emojione'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='IoUMetric', iou_metrics=['mIoU'], ignore_index=ignore_index)
test_evaluator = val_evaluator
