# Language-guided Faster R-CNN: mmdet's Faster R-CNN config whose RoI box
# head scores RoIs against text. The RPN stays class agnostic; box
# regression must be class agnostic because the classes change with the
# vocabulary. Only the keys below differ from mmdet's own file.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/lg_coco_detection.py'
]

model = dict(
    type='LanguageGuidedTwoStageDetector',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder={{_base_.lg_text_encoder}}),
    roi_head=dict(
        type='LanguageGuidedStandardRoIHead',
        bbox_head=dict(
            type='LanguageGuidedBBoxHead',
            embed_dims=256,
            reg_class_agnostic=True)))

train_pipeline = {{_base_.lg_train_pipeline}}
test_pipeline = {{_base_.lg_test_pipeline}}
train_dataloader = {{_base_.lg_train_dataloader}}
val_dataloader = {{_base_.lg_test_dataloader}}
test_dataloader = val_dataloader
