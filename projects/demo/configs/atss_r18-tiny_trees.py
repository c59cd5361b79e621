# Stock (closed-set) ATSS on the demo tree-crown tiles: the baseline of
# lg-atss_r18-tiny_minilm_trees.py (same data, schedule and seed).
#
# The demo's blocks (data, CPU schedule, runtime, the ATSS model of the
# EfficientNet-Lite0 configs) with what differs: the backbone is a small
# ResNet-18 (16 base channels) trained FROM SCRATCH, and the run is longer,
# 300 iterations (MMVLM_DEMO_ITERS, default 300) with a 30-iteration
# warm-up. With pretrained weights, set
#   model.backbone = dict(depth=..., init_cfg=dict(type='Pretrained', ...))
# and raise the channels back to the mmdet defaults. For your own COCO data
# see _base_/datasets/trees.py (or tools/misc/new_project.py).
_base_ = [
    './_base_/models/atss_efficientnet-lite0.py',
    './_base_/datasets/trees.py', './_base_/schedules/demo_cpu.py',
    './_base_/demo_runtime_det.py'
]

max_iters = {{'$MMVLM_DEMO_ITERS:300'}}
# linear warm-up: 30 iterations, at most half of a shorter run (none in a
# run of one iteration)
__warmup_iters = min(30, max_iters // 2)

model = dict(
    # mmdet's ImageNet statistics (the ResNet recipes')
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[16, 32, 64, 128],
        start_level=1,
        add_extra_convs='on_output'),
    bbox_head=dict(num_classes=1))  # 'tree'

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# the base's phases (no warm-up in a run of one iteration) on this length
param_scheduler = [
    dict(s, end=__warmup_iters) if s['type'] == 'LinearLR' else dict(
        s, begin=__warmup_iters, end=max_iters)
    for s in _base_.param_scheduler
]
# boxes drawn by test.py --show-dir: a model trained for minutes from
# scratch scores below 0.3
default_hooks = dict(visualization=dict(score_thr=0.15))
