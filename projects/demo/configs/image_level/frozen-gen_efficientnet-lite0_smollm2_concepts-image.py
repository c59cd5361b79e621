# "Frozen" generative mode on the single-concept crops: visual tokens of
# the frozen EfficientNet-Lite0 as the prefix of the frozen SmolLM2-135M,
# trained with the LM's next-token loss on the seen name; a name scores
# its log-likelihood after the prefix (one key/value cache per image) and
# generate() writes free text.
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

# Every step runs SmolLM2-135M forward and backward on the batch: a short
# schedule of small batches, the projector (and the logit scale) at 10x
# the base learning rate (the language-guided head's finding,
# docs/image_level.md).
iters = 80
train_dataloader = dict(batch_size=16)
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
    mode='generative',
    backbone={{_base_.backbone}},
    text_encoder=dict(type='HFTextEncoder', name_or_path='smollm2-135m'),
    visual_prefix=dict(in_channels=320, num_visual_tokens=2, num_heads=4),
    prompt='This is',
    vocabulary={{_base_.classes}},
    train_vocabulary={{_base_.classes}},
    data_preprocessor={{_base_.data_preprocessor}})
# No validation loop: scoring 574 names costs the LM ~2,900 name tokens
# per image (about 10 s on one CPU core); mmvlm_demo.image_level_concepts
# scores a sample of the seen test crops instead.
val_dataloader = None
val_cfg = None
val_evaluator = None
