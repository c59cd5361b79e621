# Kvasir-SEG polyp segmentation, mmseg projects/medical layout:
# images/{train,val}, masks/{train,val}; masks 0 = background, 1 = polyp.
# Prepare the raw download with
# python tools/dataset_converters/prepare_medical_dataset.py kvasir_seg RAW OUT
dataset_type = 'KvasirSEGDataset'
data_root = 'data/kvasir_seg'
img_scale = (512, 512)
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize',
         scale=img_scale,
         ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=4,
                        num_workers=2,
                        persistent_workers=True,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(type=dataset_type,
                                     data_root=data_root,
                                     data_prefix=dict(
                                         img_path='images/train',
                                         seg_map_path='masks/train'),
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=1,
                      num_workers=2,
                      persistent_workers=True,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(type=dataset_type,
                                   data_root=data_root,
                                   data_prefix=dict(img_path='images/val',
                                                    seg_map_path='masks/val'),
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric',
                     iou_metrics=['mIoU', 'mDice', 'mFscore'])
test_evaluator = val_evaluator
