# Language-guided ATSS: the stock mmdet ATSS config with class scores from
# text. Only the keys below differ from mmdet's own file.
_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

model = dict(
    type='LanguageGuidedDetector',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        # The one key naming the language model: an offline alias or a path.
        text_encoder=dict(
            type='HFTextEncoder', name_or_path='minilm', embed_dims=256)),
    # A 1x1 visual projection (as GLIP) instead of the stock 3x3 class
    # conv: the 256-d embedding then costs less than the stock 80-way 3x3
    # conv, so a baked model is no slower than the stock detector.
    bbox_head=dict(
        type='LanguageGuidedATSSHead', embed_dims=256, classifier=dict(kernel_size=1)))

# Class names reach the model as data-sample metainfo: the dataset puts them
# in `text` (return_classes=True) and PackDetInputs carries the mmvlm keys.
lg_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                'scale_factor', 'flip', 'flip_direction', 'text',
                'custom_entities', 'text_mask', 'text_label_ids')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=lg_meta_keys)
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=lg_meta_keys)
]
train_dataloader = dict(
    dataset=dict(return_classes=True, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(return_classes=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
