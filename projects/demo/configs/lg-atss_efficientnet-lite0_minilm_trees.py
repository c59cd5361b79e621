# Language-guided ATSS on the demo's tree-crown tiles: the stock twin
# atss_efficientnet-lite0_trees.py with classes defined by text (the frozen
# MiniLM with a learnable prefix reads the names) and trained with negative
# prompts. Same data, schedule and seed as the stock twin.
_base_ = [
    './_base_/models/lg-atss_efficientnet-lite0_minilm.py',
    './_base_/datasets/trees_language.py', './_base_/schedules/demo_cpu.py',
    './_base_/demo_runtime_det.py'
]

model = dict(bbox_head=dict(num_classes=1))  # 'tree'
