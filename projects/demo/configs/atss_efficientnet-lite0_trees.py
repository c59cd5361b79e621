# Stock (closed-set) ATSS on the demo's tree-crown tiles, ImageNet-pretrained
# EfficientNet-Lite0 backbone: the baseline of the language-guided twins
# (same data, schedule and seed). Every block is a _base_ file; this config
# only sets the number of classes.
_base_ = [
    './_base_/models/atss_efficientnet-lite0.py',
    './_base_/datasets/trees.py', './_base_/schedules/demo_cpu.py',
    './_base_/demo_runtime_det.py'
]

model = dict(bbox_head=dict(num_classes=1))  # 'tree'
