# The tree-crown data of ./trees.py for language-guided detectors: the same
# data, with the class names put into every sample as text.
# - training: LoadClassTexts gives the seen names; RandomSampleNegativeTexts
#   adds 7 random names of LVIS/COCO/ADE20K per image as negatives (no
#   ground truth), except the tree-like names and probes of
#   ../texts/trees.py, so the model learns that the word matters (a
#   one-class model trained without negatives learns objectness and
#   answers "car" with the tree boxes);
# - test: the seen names only (mmvlm.apis / --prompts set others).
_base_ = './trees.py'

text_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                  'scale_factor', 'flip', 'flip_direction', 'text',
                  'text_mask', 'text_label_ids', 'custom_entities')
train_dataloader = dict(
    dataset=dict(pipeline=[
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
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=0,  # the data has no other class
            negative_pool={{_base_.negative_pool}},
            num_pool_negatives=7,
            pool_exclude={{_base_.pool_exclude}},
            max_num_texts=8),
        dict(type='PackDetInputs', meta_keys=text_meta_keys)
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadClassTexts', classes={{_base_.classes}}),
        dict(
            type='Resize',
            scale=({{_base_.image_size}}, {{_base_.image_size}}),
            keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=text_meta_keys)
    ]))
test_dataloader = val_dataloader
