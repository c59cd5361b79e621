# The demo's brain-region segmentation data (axial slices of the Colin27 T1
# MRI with AAL atlas regions; projects/demo/mmvlm_demo/brain.py writes it),
# for stock segmentors. `ann_dir_seen/` label maps index the seen names of
# ../texts/brain.py; the held-out regions are 255 (ignored in training and
# in the mIoU of tools/test.py). For your own mmseg data (img_dir/ +
# ann_dir/ PNGs) change `data_root`, the folders and the names (with a
# palette of as many colours as classes).
# `data_root` comes from the environment variable MMVLM_DEMO_DATA (default
# data/demo): mmengine substitutes it when it reads the file.
# No horizontal flips: "left" and "right" regions would swap sides.
_base_ = '../texts/brain.py'  # classes: the seen names

data_root = '{{$MMVLM_DEMO_DATA:data/demo}}/brain/'
# background black, regions in distinct colours (test.py --show-dir)
palette = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25),
           (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60)]
metainfo = dict(classes={{_base_.classes}}, palette=palette)
image_scale = (181, 217)  # the slices' own size (w, h)
batch_size = 4

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=image_scale,
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
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir_seen/train'),
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
        data_prefix=dict(
            img_path='img_dir/test', seg_map_path='ann_dir_seen/test'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice'])
test_evaluator = val_evaluator
