# Language-guided ATSS: the stock mmdet ATSS config with class scores from
# text. Only the keys below differ from mmdet's own file.
_base_ = [
    'mmdet::atss/atss_r50_fpn_1x_coco.py',
    './_base_/lg_coco_detection.py'
]

model = dict(
    type='LanguageGuidedDetector',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder={{_base_.lg_text_encoder}}),
    # A 1x1 visual projection (as GLIP) instead of the stock 3x3 class
    # conv: the 256-d embedding then costs less than the stock 80-way 3x3
    # conv, so a baked model is no slower than the stock detector.
    bbox_head=dict(
        type='LanguageGuidedATSSHead',
        embed_dims=256,
        classifier=dict(kernel_size=1)))

train_pipeline = {{_base_.lg_train_pipeline}}
test_pipeline = {{_base_.lg_test_pipeline}}
train_dataloader = {{_base_.lg_train_dataloader}}
val_dataloader = {{_base_.lg_test_dataloader}}
test_dataloader = val_dataloader
