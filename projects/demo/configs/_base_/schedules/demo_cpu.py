# The demo's CPU schedule, shared by every demo model (stock and
# language-guided twins train with equal iterations, optimiser and seed):
# iteration-based, AdamW, linear warm-up then cosine decay.
# `max_iters` comes from the environment variable MMVLM_DEMO_ITERS (default
# 150), substituted by mmengine when it reads the file.
max_iters = {{'$MMVLM_DEMO_ITERS:150'}}
# linear warm-up: 20 iterations, at most half of a shorter run; a run of
# one iteration (a smoke test) has none (the cosine phase needs its own)
__warmup_iters = min(20, max_iters // 2)

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
auto_scale_lr = dict(enable=False, base_batch_size=4)
