# The many-concept segmentation data of ./concepts_seg.py for language-guided
# segmentors: every training scene asks its own vocabulary, background + the
# concepts in it + negatives sampled from the other seen names (32 names), so
# a step's cost does not grow with the 574 seen names; no outside negative
# pool (LVIS / COCO / ADE20K names include held-out concepts).
# Test: background + the names of the split, all asked at once.
_base_ = './concepts_seg.py'

text_meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'text', 'text_mask', 'text_label_ids',
                  'custom_entities')
num_texts = 32  # vocabulary of a training scene, background included
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadWideSegMap'),
        dict(type='LoadClassTexts', classes={{_base_.seg_classes}}),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=num_texts,
            max_num_texts=num_texts,
            background_label=0,
            ignore_index={{_base_.ignore_index}}),
        dict(type='PackSegInputs', meta_keys=text_meta_keys)
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadWideSegMap'),
        dict(type='LoadClassTexts', classes={{_base_.seg_classes}}),
        dict(type='PackSegInputs', meta_keys=text_meta_keys)
    ]))
test_dataloader = val_dataloader
