"""Tiny mmdet detection configs for tests (build in milliseconds on CPU).

Tests of heads, detectors and pipelines share these pieces instead of each
spelling out an ATSS head::

    from mmvlm.testing import TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg
    head = dict(tiny_atss_head_cfg(num_classes=3, in_channels=16),
                embed_dims=16, train_cfg=TINY_ATSS_TRAIN_CFG)
"""
import copy
from typing import Any, Dict

#: The ATSS training settings of mmdet's ATSS config.
TINY_ATSS_TRAIN_CFG: Dict[str, Any] = dict(
    assigner=dict(type='ATSSAssigner', topk=9),
    allowed_border=-1,
    pos_weight=-1,
    debug=False)


def tiny_atss_head_cfg(type: str = 'LanguageGuidedATSSHead',
                       num_classes: int = 80,
                       in_channels: int = 16,
                       **overrides: Any) -> Dict[str, Any]:
    """A one-conv ATSS head on strides 8/16/32 with GroupNorm(4).

    Losses and box coder are mmdet's ATSS ones (focal, GIoU, centerness).

    Args:
        type (str): Registered head type, stock (``'ATSSHead'``) or
            language-guided. Default ``'LanguageGuidedATSSHead'``.
        num_classes (int): Classes of the head config.
        in_channels (int): Input (and feature) channels.
        **overrides: Further head keys, e.g. ``embed_dims``, ``train_cfg``,
            ``test_cfg``; they replace the defaults.

    Returns:
        dict: The head config (a fresh copy on every call).
    """
    cfg = dict(
        type=type,
        num_classes=num_classes,
        in_channels=in_channels,
        feat_channels=in_channels,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=4,
            scales_per_octave=1,
            strides=[8, 16, 32]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True))
    cfg.update(copy.deepcopy(overrides))
    return cfg


def tiny_bbox_head_cfg(num_classes: int = 80,
                       in_channels: int = 16,
                       **overrides: Any) -> Dict[str, Any]:
    """A small language-guided Shared2FC RoI box head (7x7 RoIs, 32-d fcs).

    Box regression is class agnostic, as a language-guided box head needs.

    Args:
        num_classes (int): Classes of the head config.
        in_channels (int): Channels of the RoI features.
        **overrides: Further head keys (``embed_dims``, ``type``, ...).

    Returns:
        dict: The head config (a fresh copy on every call).
    """
    cfg = dict(
        type='LanguageGuidedBBoxHead',
        in_channels=in_channels,
        fc_out_channels=32,
        roi_feat_size=7,
        num_classes=num_classes,
        reg_class_agnostic=True,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False),
        loss_bbox=dict(type='L1Loss'))
    cfg.update(copy.deepcopy(overrides))
    return cfg
