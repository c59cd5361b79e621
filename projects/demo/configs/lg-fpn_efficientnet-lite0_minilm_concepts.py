# Language-guided semantic FPN pretrained on the many-concept world: every
# pixel is scored against the names of its scene's vocabulary (background +
# its concepts + sampled seen negatives, 32 names) read by the frozen
# MiniLM; held-out names are asked only at test time
# (projects/demo/mmvlm_demo/concept_eval.py). As in the detection twin
# lg-atss_efficientnet-lite0_minilm_concepts.py: no learnable prefix (every
# name's embedding is computed once and cached) and the ImageNet backbone
# frozen whole.
_base_ = [
    './_base_/models/lg-fpn_efficientnet-lite0_minilm.py',
    './_base_/datasets/concepts_seg_language.py',
    './_base_/schedules/concepts_cpu.py', './_base_/demo_runtime_seg.py'
]

model = dict(
    data_preprocessor=dict(seg_pad_val={{_base_.ignore_index}}),
    backbone=dict(frozen_stages=7),
    neck=dict(text_encoder=dict(prefix_length=0)),
    decode_head=dict(num_classes=575, ignore_index={{_base_.ignore_index}}))
