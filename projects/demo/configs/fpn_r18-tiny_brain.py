# Stock (closed-set) semantic FPN on the demo brain slices (Colin27 T1 +
# AAL regions): the baseline of lg-fpn_r18-tiny_minilm_brain.py (same data,
# schedule and seed).
#
# A template for your own mmseg data (img_dir/ + ann_dir/ PNGs): change
# `data_root`, `classes` and the folders. The demo's data root and number
# of iterations come from the environment variables MMVLM_DEMO_DATA
# (default data/demo) and MMVLM_DEMO_ITERS (default 200), which mmengine
# substitutes when it reads the file. The ResNet-18 (16 base channels)
# is trained FROM SCRATCH: no ImageNet weights can be downloaded on the demo
# machine. Do not add horizontal flips here: "left" and "right" regions
# would swap sides.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/default_runtime.py'
]

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/brain/'
classes = ('background', 'left precentral gyrus', 'right precentral gyrus',
           'left postcentral gyrus', 'right postcentral gyrus',
           'left middle frontal gyrus', 'right middle frontal gyrus',
           'left middle temporal gyrus', 'right middle temporal gyrus',
           'left precuneus', 'right precuneus', 'left cerebellum crus I',
           'right cerebellum crus I')
# background drawn black, regions in distinct colours (test.py --show-dir)
palette = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25),
           (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
           (220, 190, 255)]
metainfo = dict(classes=classes, palette=palette)
max_iters = {{'$MMVLM_DEMO_ITERS:200'}}
# linear warm-up: 30 iterations, at most half of a shorter run
__warmup_iters = min(30, max(1, max_iters // 2))
batch_size = 4
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a GPU group

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(256, 224)),  # slices are 217x181 (h x w)
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        norm_cfg=norm_cfg),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64, num_outs=4),
    decode_head=dict(
        in_channels=[64, 64, 64, 64],
        channels=64,
        dropout_ratio=0.0,
        num_classes=len(classes),
        norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(181, 217),
        ratio_range=(0.9, 1.1),
        keep_ratio=True),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
# The demo has no separate validation split: "val" is the test split, run
# once after the last iteration (no model selection on it).
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BaseSegDataset',
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/test', seg_map_path='ann_dir/test'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice'])
test_evaluator = val_evaluator

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
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
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draws only when testing with --show-dir; every test slice then
    visualization=dict(type='SegVisualizationHook', interval=1))
log_processor = dict(by_epoch=False, window_size=10)
env_cfg = dict(cudnn_benchmark=False)
visualizer = dict(alpha=0.5)
randomness = dict(seed=0)
