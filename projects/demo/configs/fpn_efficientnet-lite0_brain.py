# Stock (closed-set) semantic FPN on the demo's brain slices, ImageNet-
# pretrained EfficientNet-Lite0 backbone: the baseline of the language-guided
# twins (same data, schedule and seed). Every block is a _base_ file; this
# config only sets the number of classes.
_base_ = [
    './_base_/models/fpn_efficientnet-lite0.py',
    './_base_/datasets/brain.py', './_base_/schedules/demo_cpu.py',
    './_base_/demo_runtime_seg.py'
]

model = dict(decode_head=dict(num_classes=10))  # background + 9 seen regions
