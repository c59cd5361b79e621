# lg-fpn_efficientnet-lite0_minilm_brain.py with a decoder-only LLM as the
# text side: SmolLM2-135M (offline alias `smollm2-135m`, frozen), read
# through a learnable 4-token prefix; the class embedding is pooled from
# its hidden states and projected to 64 channels.
_base_ = './lg-fpn_efficientnet-lite0_minilm_brain.py'

model = dict(neck=dict(text_encoder=dict(name_or_path='smollm2-135m')))
