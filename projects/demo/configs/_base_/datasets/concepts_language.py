# The many-concept data of ./concepts.py for language-guided detectors:
# every training scene asks its own vocabulary, the concepts in it plus
# negatives sampled from the other seen names (YOLO-World / GLIP style), so
# the cost of a step does not grow with the 574 seen names. No outside
# negative pool: LVIS / COCO names include held-out concepts, and a name
# never trained on must not be trained as a negative either.
# Test: the names of the split, all asked at once.
_base_ = './concepts.py'

text_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                  'scale_factor', 'flip', 'flip_direction', 'text',
                  'text_mask', 'text_label_ids', 'custom_entities')
num_texts = 32  # vocabulary of a training scene: its concepts + negatives
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='LoadClassTexts', classes={{_base_.classes}}),
        dict(
            type='Resize',
            scale=({{_base_.scene_size}}, {{_base_.scene_size}}),
            keep_ratio=True),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(
            type='RandomSampleNegativeTexts',
            num_negatives=num_texts,
            max_num_texts=num_texts),
        dict(type='PackDetInputs', meta_keys=text_meta_keys)
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadClassTexts', classes={{_base_.classes}}),
        dict(
            type='Resize',
            scale=({{_base_.scene_size}}, {{_base_.scene_size}}),
            keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=text_meta_keys)
    ]))
test_dataloader = val_dataloader
