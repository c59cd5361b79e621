# "Frozen" embedding mode on the single-concept crops: the frozen
# EfficientNet-Lite0 map is attention-pooled into visual tokens, run
# through the frozen SmolLM2-135M, and its pooled output is matched
# against the same LM's embeddings of the 574 seen names (softmax).
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

train_dataloader = dict(batch_size=32)
model = dict(
    type='FrozenPrefixClassifier',
    mode='embedding',
    backbone={{_base_.backbone}},
    text_encoder=dict(
        type='HFTextEncoder', name_or_path='smollm2-135m', embed_dims=256),
    visual_prefix=dict(in_channels=320, num_visual_tokens=2, num_heads=4),
    vocabulary={{_base_.classes}},
    train_vocabulary={{_base_.classes}},
    data_preprocessor={{_base_.data_preprocessor}})
