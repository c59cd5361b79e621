# Stock (closed-set) semantic FPN pretrained on the many-concept world:
# background + the 574 seen names, the twin of
# lg-fpn_efficientnet-lite0_minilm_concepts.py (same backbone, frozen whole,
# data, schedule and seed). It cannot be asked a held-out name.
_base_ = [
    './_base_/models/fpn_efficientnet-lite0.py',
    './_base_/datasets/concepts_seg.py', './_base_/schedules/concepts_cpu.py',
    './_base_/demo_runtime_seg.py'
]

model = dict(
    data_preprocessor=dict(seg_pad_val={{_base_.ignore_index}}),
    backbone=dict(frozen_stages=7),
    decode_head=dict(num_classes=575, ignore_index={{_base_.ignore_index}}))
