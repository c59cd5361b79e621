# The demo's tree-crown detection data (COCO format, 400x400 NEON aerial
# tiles; projects/demo/mmvlm_demo/trees.py writes it), for stock detectors.
# For your own COCO data change `data_root`, the two `ann_file`s and the
# names in ../texts/ (or set `classes` / `metainfo` in your config).
# `data_root` comes from the environment variable MMVLM_DEMO_DATA (default
# data/demo): mmengine substitutes it when it reads the file.
_base_ = '../texts/trees.py'  # classes: the seen names

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/trees/'
metainfo = dict(classes={{_base_.classes}}, palette=[(0, 200, 0)])
image_size = 400  # tiles are at most 400x400: keep them at native scale
crop_size = 256  # training crops (CPU budget)
batch_size = 4

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(crop_size, crop_size)),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25, 0.25],
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
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
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
# The demo has no separate validation split: "val" is the test split, run
# once after the last iteration (no model selection on it).
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/test.json',
    metric='bbox',
    format_only=False)
test_evaluator = val_evaluator
