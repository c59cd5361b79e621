# Language-guided ATSS on the demo tree-crown tiles: the stock twin
# atss_r18-tiny_trees.py with text-defined classes. Only the keys below
# change; data, schedule and seed are inherited, so the two are compared
# with equal iterations.
#
# - the neck wraps the stock FPN in LLMPrefixNeck, whose text side is the
#   offline MiniLM (all-MiniLM-L6-v2, frozen) with a learnable 4-token prefix;
# - the head is ATSS with its class conv replaced by a contrastive
#   classifier scoring boxes against the text embeddings of the prompts;
# - LoadClassTexts puts the class names (the prompts) into every sample.
#
# For your own data: set `classes` in the stock config to the names you want
# to prompt with (they are the text the language model reads).
_base_ = './atss_r18-tiny_trees.py'
custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# stop at the first non-finite loss or gradient; never checkpoint NaN weights
custom_hooks = [dict(type='FiniteCheckHook')]

embed_dims = 64
text_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                  'scale_factor', 'flip', 'flip_direction', 'text',
                  'text_mask', 'text_label_ids', 'custom_entities')

model = dict(
    type='LanguageGuidedDetector',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder=dict(
            type='HFTextEncoder',
            name_or_path='minilm',
            embed_dims=embed_dims,
            prefix_length=4)),
    bbox_head=dict(type='LanguageGuidedATSSHead', embed_dims=embed_dims))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LoadClassTexts', classes={{_base_.classes}}),
    dict(
        type='Resize',
        scale=({{_base_.image_size}}, {{_base_.image_size}}),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=({{_base_.crop_size}}, {{_base_.crop_size}})),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25, 0.25],
        direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs', meta_keys=text_meta_keys)
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadClassTexts', classes={{_base_.classes}}),
    dict(
        type='Resize',
        scale=({{_base_.image_size}}, {{_base_.image_size}}),
        keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=text_meta_keys)
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
