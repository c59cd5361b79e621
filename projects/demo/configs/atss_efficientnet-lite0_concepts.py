# Stock ATSS pretrained on the many-concept world: a closed set over the 574
# seen names, the twin of lg-atss_efficientnet-lite0_minilm_concepts.py
# (same backbone, data, schedule and seed), so that "language vs no
# language" stays a fair comparison after the trees fine-tune.
_base_ = [
    './_base_/models/atss_efficientnet-lite0.py',
    './_base_/datasets/concepts.py', './_base_/schedules/concepts_cpu.py',
    './_base_/demo_runtime_det.py'
]

model = dict(
    backbone=dict(frozen_stages=7),  # as the LG twin: the whole backbone
    bbox_head=dict(num_classes=574))  # the seen names
