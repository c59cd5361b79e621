# The stock ATSS of atss_efficientnet-lite0_trees.py with its backbone
# initialised at random (no ImageNet weights, every stage trained): the
# from-scratch side of the pretrained-vs-scratch comparison in docs/demo.md
# (same data, schedule and seed).
_base_ = './atss_efficientnet-lite0_trees.py'

model = dict(
    backbone=dict(pretrained=None, frozen_stages=-1, norm_eval=False))
