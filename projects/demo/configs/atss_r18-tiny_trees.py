# Stock (closed-set) ATSS on the demo tree-crown tiles: the baseline of
# lg-atss_r18-tiny_minilm_trees.py (same data, schedule and seed).
#
# A template for your own COCO-format data: change `data_root`, `classes`
# and the two `ann_file`s. The demo's data root and number of iterations
# come from the environment variables MMVLM_DEMO_DATA (default data/demo)
# and MMVLM_DEMO_ITERS (default 300), which mmengine substitutes when it
# reads the file. The backbone is a small ResNet-18 (16 base
# channels) trained FROM SCRATCH: no ImageNet weights can be downloaded on
# the demo machine. With pretrained weights, set
#   model.backbone = dict(depth=..., init_cfg=dict(type='Pretrained', ...))
# and raise the channels back to the mmdet defaults.
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/trees/'
classes = ('tree', )
metainfo = dict(classes=classes, palette=[(0, 200, 0)])
image_size = 400  # tiles are at most 400x400; keep them at native scale
crop_size = 256  # training crops (CPU budget)
max_iters = {{'$MMVLM_DEMO_ITERS:300'}}
# linear warm-up: 30 iterations, at most half of a shorter run
__warmup_iters = min(30, max(1, max_iters // 2))
batch_size = 4

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[16, 32, 64, 128],
        out_channels=64,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=3),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=4, strides=[8, 16, 32])),
    test_cfg=dict(score_thr=0.05, max_per_img=200))

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
    dataset=dict(
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
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/test.json',
        data_prefix=dict(img='images/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/test.json')
test_evaluator = val_evaluator

train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=False,
        begin=0,
        end=__warmup_iters),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=__warmup_iters,
        end=max_iters,
        eta_min=2e-5)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    # boxes drawn by test.py --show-dir: a model trained for minutes from
    # scratch scores below mmdet's default 0.3
    visualization=dict(type='DetVisualizationHook', score_thr=0.15),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
