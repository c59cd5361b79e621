# The data side shared by the language-guided COCO detection configs. It only
# adds new keys, so it can be listed next to an mmdet `_base_` file:
#   _base_ = ['mmdet::atss/atss_r50_fpn_1x_coco.py',
#             './_base_/lg_coco_detection_data.py']
# Class names reach the model as data-sample metainfo: the dataset puts them
# in `text` (return_classes=True) and PackDetInputs carries the mmvlm keys.
custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

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
