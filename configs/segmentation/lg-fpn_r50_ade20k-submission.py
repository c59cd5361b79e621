# ADE20K test-set (leaderboard) submission with the language-guided FPN:
# `tools/test.py` in format-only mode writes one PNG per test image (ADE
# label ids 1..150, the server's format) to `output_dir`; no metric runs.
#   python <mmseg>/.mim/tools/test.py \
#       configs/segmentation/lg-fpn_r50_ade20k-submission.py CHECKPOINT
_base_ = './lg-fpn_r50_ade20k.py'

test_dataloader = dict(dataset=dict(
    # the unzipped ADEChallenge test release: release_test/testing/*.jpg
    data_root='data/ade/release_test',
    data_prefix=dict(_delete_=True, img_path='testing'),
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(2048, 512), keep_ratio=True),
        dict(type='PackSegInputs')
    ]))
test_evaluator = dict(type='IoUMetric',
                      iou_metrics=['mIoU'],
                      format_only=True,
                      output_dir='work_dirs/lg-fpn_r50_ade20k-submission')
