# The many-concept pretraining schedule (CPU): the demo schedule
# (./demo_cpu.py: AdamW, warm-up, cosine) with its own length,
# MMVLM_CONCEPT_ITERS (default 800 iterations of 8 scenes), substituted by
# mmengine when it reads the file. Stock and language-guided twins train
# with equal iterations, optimiser and seed.
max_iters = {{'$MMVLM_CONCEPT_ITERS:800'}}
__warmup_iters = min(40, max_iters // 2)

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
__warmup = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=False,
        begin=0,
        end=__warmup_iters)
] if __warmup_iters > 0 else []
param_scheduler = __warmup + [
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=__warmup_iters,
        end=max_iters,
        eta_min=2e-5)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
