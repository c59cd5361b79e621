# Language-guided semantic FPN on the demo's brain slices: the stock twin
# fpn_efficientnet-lite0_brain.py with classes defined by text (the frozen
# MiniLM with a learnable prefix reads the region names) and trained with
# negative prompts. Same data, schedule and seed as the stock twin.
_base_ = [
    './_base_/models/lg-fpn_efficientnet-lite0_minilm.py',
    './_base_/datasets/brain_language.py', './_base_/schedules/demo_cpu.py',
    './_base_/demo_runtime_seg.py'
]

model = dict(decode_head=dict(num_classes=10))  # background + 9 seen regions
