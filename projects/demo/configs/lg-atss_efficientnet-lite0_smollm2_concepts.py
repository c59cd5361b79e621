# lg-atss_efficientnet-lite0_minilm_concepts.py with a decoder-only LLM as
# the text side: SmolLM2-135M (offline alias `smollm2-135m`, frozen, no
# prefix: every name is encoded once and cached), its pooled hidden states
# projected to 64 channels. Does the bigger LM know more of the held-out
# names? Same data, schedule and seed.
_base_ = './lg-atss_efficientnet-lite0_minilm_concepts.py'

model = dict(neck=dict(text_encoder=dict(name_or_path='smollm2-135m')))
