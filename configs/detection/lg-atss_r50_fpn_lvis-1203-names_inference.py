# Large-vocabulary inference: a language-guided ATSS scoring all 1203 LVIS v1
# class names (from mmdet's LVISV1Dataset METAINFO, no copy). One embedding
# per name (no token cap, no chunked passes); the LM encodes the vocabulary
# once and caches it.
#   python tools/misc/image_demo.py demo.jpg \
#       configs/detection/lg-atss_r50_fpn_lvis-1203-names_inference.py \
#       --weights CHECKPOINT
# evaluates with LVISMetric on LVIS v1 val the same way with tools/test.py.
_base_ = './lg-atss_r50_fpn_1x_coco.py'

model = dict(
    # Used when the data samples carry no vocabulary (demo / inference).
    vocabulary=dict(dataset='LVISV1Dataset'),
    bbox_head=dict(num_classes=1203),
    test_cfg=dict(max_per_img=300, score_thr=0.0001))

data_root = 'data/lvis_v1/'
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LVISV1Dataset',
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img=''),
        test_mode=True,
        return_classes=True,
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='LVISMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox'])
test_evaluator = val_evaluator
# LVISMetric runs on rank 0 alone for many minutes while the other ranks
# wait: a longer process-group timeout than mmvlm's default of 300 s
env_cfg = dict(dist_cfg=dict(timeout=3600))
