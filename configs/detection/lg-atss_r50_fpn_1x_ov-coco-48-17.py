# Open-vocabulary COCO (the standard 48 base / 17 novel split of OVR-CNN):
# train on the 48 base class names only (annotations of novel classes are
# dropped by the dataset, novel objects stay unlabelled background), evaluate
# on all 65 names, and report box AP50 on base, novel and all classes.
_base_ = './lg-atss_r50_fpn_1x_coco.py'

base_classes = (
    'person', 'bicycle', 'car', 'motorcycle', 'train', 'truck', 'boat',
    'bench', 'bird', 'horse', 'sheep', 'bear', 'zebra', 'giraffe',
    'backpack', 'handbag', 'suitcase', 'frisbee', 'skis', 'kite',
    'surfboard', 'bottle', 'fork', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'pizza', 'donut', 'chair',
    'bed', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'microwave',
    'oven', 'toaster', 'refrigerator', 'book', 'clock', 'vase',
    'toothbrush')
novel_classes = (
    'airplane', 'bus', 'cat', 'dog', 'cow', 'elephant', 'umbrella', 'tie',
    'snowboard', 'skateboard', 'cup', 'knife', 'cake', 'couch',
    'keyboard', 'sink', 'scissors')

# Dataset label ids range over the 65 evaluation classes.
model = dict(bbox_head=dict(num_classes=65))

train_dataloader = dict(dataset=dict(metainfo=dict(classes=base_classes)))
val_dataloader = dict(
    dataset=dict(metainfo=dict(classes=base_classes + novel_classes)))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='OpenVocabularyCocoMetric',
    metric='bbox',
    base_classes=base_classes,
    novel_classes=novel_classes)
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(save_best='coco/bbox_AP50_novel', rule='greater'))
