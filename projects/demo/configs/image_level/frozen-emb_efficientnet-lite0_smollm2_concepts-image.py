# "Frozen" embedding mode on the single-concept crops: the frozen
# EfficientNet-Lite0 map is attention-pooled into visual tokens, run
# through the frozen SmolLM2-135M, and its pooled output is matched
# against the same LM's embeddings of the 574 seen names (softmax).
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

# Every step runs SmolLM2-135M forward and backward on the batch: a short
# schedule of small batches, the projector (and the logit scale) at 10x
# the base learning rate (the language-guided head's finding,
# docs/image_level.md).
iters = 120
train_dataloader = dict(batch_size=32)
train_cfg = dict(max_iters=iters, val_interval=iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=iters,
         eta_min=5e-5)
]
default_hooks = dict(checkpoint=dict(interval=iters))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(
            visual_projector=dict(lr_mult=10.0),
            logit_scale=dict(lr_mult=10.0),
            text_encoder=dict(lr_mult=10.0))))
model = dict(
    type='FrozenPrefixClassifier',
    mode='embedding',
    backbone={{_base_.backbone}},
    text_encoder=dict(
        type='HFTextEncoder', name_or_path='smollm2-135m', embed_dims=256),
    visual_prefix=dict(in_channels=320, num_visual_tokens=2, num_heads=4),
    # SmolLM2's pooled name states share one direction (mean cosine 0.73):
    # centred, the names differ (docs/image_level.md)
    center_embeddings=True,
    vocabulary={{_base_.classes}},
    train_vocabulary={{_base_.classes}},
    data_preprocessor={{_base_.data_preprocessor}})
