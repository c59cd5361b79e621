# The SmolLM2 language-guided ATSS (lg-atss_r50_fpn_smollm2-prefix_1x_coco.py)
# trained with DeepSpeed ZeRO through mmengine's FlexibleRunner and
# DeepSpeedStrategy (needs `pip install deepspeed` and CUDA GPUs):
#
#   bash tools/dist_train.sh \
#       configs/detection/lg-atss_r50_fpn_smollm2-prefix_deepspeed.py 8
#
# - ZeRO stage 2 shards gradients and optimizer state (stage 3 also the
#   parameters: for LMs that do not fit on one GPU);
# - fp16 with dynamic loss scaling; the images are cast to half
#   (inputs_to_half), the frozen LM runs in half as well;
# - DeepSpeedOptimWrapper replaces the OptimWrapper (gradient clipping is
#   DeepSpeed's gradient_clipping);
# - FiniteCheckHook is left out: DeepSpeed's loss scaler skips steps with
#   non-finite gradients itself, and ZeRO keeps the gradients partitioned
#   where the hook cannot see them.
# docs/reliability.md says what was run with it and what was not.
_base_ = './lg-atss_r50_fpn_smollm2-prefix_1x_coco.py'

runner_type = 'FlexibleRunner'
custom_hooks = []
strategy = dict(
    type='DeepSpeedStrategy',
    fp16=dict(
        enabled=True,
        loss_scale=0,
        loss_scale_window=500,
        hysteresis=2,
        min_loss_scale=1,
        initial_scale_power=15),
    inputs_to_half=['inputs'],
    gradient_clipping=35.,
    zero_optimization=dict(
        stage=2,
        allgather_partitions=True,
        reduce_scatter=True,
        allgather_bucket_size=int(5e7),
        reduce_bucket_size=int(5e7),
        overlap_comm=True,
        contiguous_gradients=True,
        cpu_offload=False))
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
