# lg-atss_efficientnet-lite0_minilm_trees.py with the language model
# fine-tuned too (all MiniLM weights train, at 1/100 of the learning rate):
# the usual fine-tuning of an open-vocabulary detector, compared in the
# report with the frozen MiniLM on names never trained on.
_base_ = './lg-atss_efficientnet-lite0_minilm_trees.py'

model = dict(neck=dict(text_encoder=dict(freeze_lm=False)))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'text_encoder.lm': dict(lr_mult=0.01)}))
