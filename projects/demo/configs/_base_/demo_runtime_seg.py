# mmseg's default runtime with the demo's logging, checkpointing and seed.
_base_ = 'mmseg::_base_/default_runtime.py'

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# stop at the first non-finite loss or gradient; never checkpoint NaN weights
custom_hooks = [dict(type='FiniteCheckHook')]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one checkpoint, after the last iteration (save_last), written to a
    # temporary file and renamed into place: a kill never loses the last one
    checkpoint=dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=-1,
        save_last=True, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draws only when testing with --show-dir; every test slice then
    visualization=dict(type='SegVisualizationHook', interval=1))
log_processor = dict(by_epoch=False, window_size=10)
# distributed runs: a rank that stops ends the job after 5 minutes (torch's
# default is 30); see docs/reliability.md
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(timeout=300))
visualizer = dict(alpha=0.5)
randomness = dict(seed=0)
