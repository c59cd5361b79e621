# Iteration-based CPU schedule of the image-level concept models on
# mmpretrain's default runtime: AdamW, cosine decay, validation on the seen
# validation crops at the end.
_base_ = ['mmpretrain::_base_/default_runtime.py']

max_iters = 300
lr = 1e-3
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=lr, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, T_max=max_iters,
         eta_min=lr * 0.05)
]
train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
log_level = 'WARNING'
randomness = dict(seed=0)
load_from = None
resume = False
