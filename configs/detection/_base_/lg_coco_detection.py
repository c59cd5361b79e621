# The language-guided side shared by the COCO detection configs. It only adds
# new keys, so it is listed next to an mmdet `_base_` file, whose keys the
# config then points at these values:
#   _base_ = ['mmdet::atss/atss_r50_fpn_1x_coco.py',
#             './_base_/lg_coco_detection.py']
#   model = dict(neck=dict(_delete_=True, type='LLMPrefixNeck',
#                          neck={{_base_.model.neck}},
#                          text_encoder={{_base_.lg_text_encoder}}), ...)
#   train_pipeline = {{_base_.lg_train_pipeline}}   # and the dataloaders
custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# stop at the first non-finite loss or gradient; never checkpoint NaN weights
custom_hooks = [dict(type='FiniteCheckHook')]

# The one key naming the language model: an offline alias or a path.
lg_text_encoder = dict(
    type='HFTextEncoder', name_or_path='minilm', embed_dims=256)

# Class names reach the model as data-sample metainfo: the dataset puts them
# in `text` (return_classes=True) and PackDetInputs carries the mmvlm keys.
lg_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                'scale_factor', 'flip', 'flip_direction', 'text',
                'custom_entities', 'text_mask', 'text_label_ids')
lg_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=lg_meta_keys)
]
lg_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=lg_meta_keys)
]
# Merged into the mmdet base's dataloaders (only these keys change).
lg_train_dataloader = dict(
    dataset=dict(return_classes=True, pipeline=lg_train_pipeline))
lg_test_dataloader = dict(
    dataset=dict(return_classes=True, pipeline=lg_test_pipeline))
