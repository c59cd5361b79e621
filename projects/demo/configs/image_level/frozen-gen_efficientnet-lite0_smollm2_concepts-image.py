# "Frozen" generative mode on the single-concept crops: visual tokens of
# the frozen EfficientNet-Lite0 as the prefix of the frozen SmolLM2-135M,
# trained with the LM's next-token loss on the seen name; a name scores
# its log-likelihood after the prefix (one key/value cache per image) and
# generate() writes free text.
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

train_dataloader = dict(batch_size=32)
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
