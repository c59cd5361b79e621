# The SmolLM2 language-guided ATSS (lg-atss_r50_fpn_smollm2-prefix_1x_coco.py)
# trained with PyTorch FSDP through mmengine's FlexibleRunner and
# FSDPStrategy: parameters, gradients and optimizer state are sharded over
# the GPUs, for language models too large to copy onto every GPU (swap
# name_or_path for a Llama-size folder; SmolLM2-135M itself fits anywhere).
#
#   bash tools/dist_train.sh \
#       configs/detection/lg-atss_r50_fpn_smollm2-prefix_fsdp.py 8
#
# - size_based_auto_wrap_policy puts every block of >= 10M parameters in an
#   FSDP unit of its own (each decoder layer of a 1B+ LM; lower it for
#   smaller ones), the rest (ResNet, FPN, head, prefix) in the root unit;
# - use_orig_params=True: the frozen LM (requires_grad=False) and the
#   trained prefix / projection may share an FSDP unit;
# - state_dict_cfg='full' gathers full tensors on rank 0 for checkpoints,
#   which the text encoder's state_dict hook then writes without the frozen
#   LM, as in DDP training.
# docs/reliability.md says what was run with it (config, model, strategy
# built on CPU) and what was not (a multi-GPU FSDP run).
_base_ = './lg-atss_r50_fpn_smollm2-prefix_1x_coco.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=int(1e7)),
        use_orig_params=True),
    state_dict_cfg='full')
