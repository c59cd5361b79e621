# Leaderboard submission: run the stock tools/test.py in format-only mode on
# COCO test-dev; it writes <outfile_prefix>.bbox.json in the COCO results
# format, ready to zip and upload.
#   python tools/test.py \
#       configs/detection/lg-atss_r50_fpn_1x_coco-test-dev.py CKPT
_base_ = './lg-atss_r50_fpn_1x_coco.py'

test_dataloader = dict(
    dataset=dict(
        ann_file='annotations/image_info_test-dev2017.json',
        data_prefix=dict(img='test2017/'),
        test_mode=True))
test_evaluator = dict(
    type='CocoMetric',
    metric='bbox',
    format_only=True,
    ann_file='data/coco/annotations/image_info_test-dev2017.json',
    outfile_prefix='./work_dirs/lg-atss_r50_fpn_1x_coco/test-dev')
