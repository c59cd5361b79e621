# Open-vocabulary ADE20K-150: train on the names of 135 seen classes, report
# mIoU on seen and unseen classes with all 150 names at test time.
# Unseen split: every tenth class id (9, 19, ..., 149), 15 classes.
_base_ = './lg-fpn_r50_ade20k.py'

unseen_class_ids = list(range(9, 150, 10))
seen_class_ids = [i for i in range(150) if i not in unseen_class_ids]

model = dict(
    # training batches: seen names only; unseen pixels are ignored
    train_vocabulary=dict(dataset='ADE20KDataset', label_ids=seen_class_ids),
    # evaluation: all 150 names
    vocabulary='ADE20KDataset')

val_evaluator = dict(type='OpenVocabularyIoUMetric',
                     iou_metrics=['mIoU'],
                     unseen_classes=unseen_class_ids)
test_evaluator = val_evaluator
