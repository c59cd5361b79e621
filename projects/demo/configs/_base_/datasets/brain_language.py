# The brain data of ./brain.py for language-guided segmentors: the same
# data, with the class names put into every sample as text.
# - training: LoadClassTexts gives the seen names; RandomSampleNegativeTexts
#   keeps background and the names present in the slice, the other seen
#   names as negatives, and adds 4 random LVIS/COCO/ADE20K names per slice
#   (except the anatomy-like names and probes of ../texts/brain.py);
# - test: the seen names only (mmvlm.apis / --prompts set others).
_base_ = './brain.py'

text_meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'text', 'text_mask', 'text_label_ids',
                  'custom_entities')
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='LoadClassTexts', classes={{_base_.classes}}),
        dict(
            type='RandomResize',
            scale={{_base_.image_scale}},
            ratio_range=(0.9, 1.1),
            keep_ratio=True),
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=9,  # every seen name absent from the slice
            negative_pool={{_base_.negative_pool}},
            num_pool_negatives=4,
            pool_exclude={{_base_.pool_exclude}},
            max_num_texts=14,
            background_label=0),
        dict(type='PackSegInputs', meta_keys=text_meta_keys)
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='LoadClassTexts', classes={{_base_.classes}}),
        dict(type='PackSegInputs', meta_keys=text_meta_keys)
    ]))
test_dataloader = val_dataloader
