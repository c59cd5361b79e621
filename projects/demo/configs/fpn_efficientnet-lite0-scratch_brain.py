# The stock FPN of fpn_efficientnet-lite0_brain.py with its backbone
# initialised at random (no ImageNet weights, every stage trained): the
# from-scratch side of the pretrained-vs-scratch comparison in docs/demo.md
# (same data, schedule and seed).
_base_ = './fpn_efficientnet-lite0_brain.py'

model = dict(
    backbone=dict(pretrained=None, frozen_stages=-1, norm_eval=False))
