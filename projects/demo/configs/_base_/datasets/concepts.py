# The demo's many-concept detection data (COCO format, 192x192 scenes of
# named artwork on aerial photos; projects/demo/mmvlm_demo/concept_data.py
# writes it), for stock detectors: a closed set over the seen names.
# Training: the seen concepts in EmojiOne art; test: the seen concepts in a
# fresh layout (`test_seen_emojione`). The other test splits
# (`test_held_out_<style>`, `test_mixed_<style>`, `test_seen_noto`,
# `val_held_out`) are asked by projects/demo/mmvlm_demo/concept_eval.py.
_base_ = '../texts/concepts.py'  # classes: the seen names

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/concepts/'
# one box colour for every name (mmdet's default palette has 80 colours)
metainfo = dict(classes={{_base_.classes}}, palette=[(255, 96, 0)] * 574)
scene_size = 192  # concept_data.SCENE_SIZE
batch_size = 8

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # scenes are stored at their training size: Resize only records the
    # scale factor mmdet's heads read
    dict(type='Resize', scale=(scene_size, scene_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(scene_size, scene_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/test_seen_emojione.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/test_seen_emojione.json',
    metric='bbox',
    format_only=False)
test_evaluator = val_evaluator
