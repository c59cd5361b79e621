# Stock (closed-set) semantic FPN on the demo brain slices (Colin27 T1 +
# AAL regions): the baseline of lg-fpn_r18-tiny_minilm_brain.py (same data,
# schedule and seed).
#
# mmseg's FPN model and the demo's blocks (data, CPU schedule, runtime)
# with what differs: the backbone is a small ResNet-18 (16 base channels)
# trained FROM SCRATCH; the data are all 12 regions (`ann_dir/`, no
# held-out names); the run is longer, 200 iterations (MMVLM_DEMO_ITERS,
# default 200) with a 30-iteration warm-up. For your own mmseg data see
# _base_/datasets/brain.py (or tools/misc/new_project.py).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', './_base_/datasets/brain.py',
    './_base_/schedules/demo_cpu.py', './_base_/demo_runtime_seg.py'
]

classes = ('background', 'left precentral gyrus', 'right precentral gyrus',
           'left postcentral gyrus', 'right postcentral gyrus',
           'left middle frontal gyrus', 'right middle frontal gyrus',
           'left middle temporal gyrus', 'right middle temporal gyrus',
           'left precuneus', 'right precuneus', 'left cerebellum crus I',
           'right cerebellum crus I')
# the base's colours and three more, one per class
palette = [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25),
           (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
           (220, 190, 255)]
metainfo = dict(classes=classes, palette=palette)
max_iters = {{'$MMVLM_DEMO_ITERS:200'}}
# linear warm-up: 30 iterations, at most half of a shorter run (none in a
# run of one iteration)
__warmup_iters = min(30, max_iters // 2)
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

train_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, data_prefix=dict(seg_map_path='ann_dir/train')))
val_dataloader = dict(
    dataset=dict(
        metainfo=metainfo, data_prefix=dict(seg_map_path='ann_dir/test')))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# the base's phases (no warm-up in a run of one iteration) on this length
param_scheduler = [
    dict(s, end=__warmup_iters) if s['type'] == 'LinearLR' else dict(
        s, begin=__warmup_iters, end=max_iters)
    for s in _base_.param_scheduler
]
