"""What the numpy runtime needs to know about a model: ``meta.json``.

Read from the built model and its config (test pipeline, data
preprocessor, head priors, box coder and test settings), so the exported
folder is self-contained.
"""
from typing import Optional

from mmengine.config import Config
from torch import nn

from mmvlm.apis.model_loading import test_dataset_cfg


def _plain(value):
    """Config values (ConfigDict, tuples, tensors) -> JSON types."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_resize(cfg: Config) -> Optional[dict]:
    """The ``Resize`` of the test pipeline, as the runtime applies it.

    Args:
        cfg (Config): The model config.

    Returns:
        dict | None: ``dict(scale=[w, h], keep_ratio=bool)``; None when
        the pipeline does not resize.
    """
    pipeline = test_dataset_cfg(cfg).get('pipeline') or cfg.get(
        'test_pipeline') or []
    resizes = [t for t in pipeline if 'Resize' in t.get('type', '')]
    if not resizes:
        return None
    resize = resizes[0]
    if resize['type'] != 'Resize' or resize.get('scale') is None:
        raise ValueError(
            f'The test pipeline resizes with {dict(resize)}; the ONNX '
            'runtime supports Resize(scale=..., keep_ratio=...) only. Use '
            'such a Resize in the test pipeline.')
    scale = resize['scale']
    if isinstance(scale, int):
        scale = (scale, scale)
    return dict(scale=list(scale),
                keep_ratio=bool(resize.get('keep_ratio', False)))


def preprocess_meta(model: nn.Module, cfg: Config) -> dict:
    """Normalisation, channel order, padding and resize of the model.

    Args:
        model (nn.Module): The built detector / segmentor.
        cfg (Config): Its config.

    Returns:
        dict: ``meta['preprocess']``.
    """
    pre = model.data_preprocessor
    convert = getattr(pre, '_channel_conversion',
                      getattr(pre, 'channel_conversion', False))
    if not getattr(pre, '_enable_normalize', True):
        mean, std = [0.0] * 3, [1.0] * 3
    else:
        mean = pre.mean.flatten().tolist()
        std = pre.std.flatten().tolist()
    spec = dict(mean=mean,
                std=std,
                channel_order='rgb' if convert else 'bgr',
                resize=test_resize(cfg))
    if hasattr(pre, 'pad_size_divisor'):  # mmdet
        spec.update(size_divisor=pre.pad_size_divisor,
                    pad_value=float(pre.pad_value))
    else:  # mmseg pads at test time only with a test_cfg
        test_cfg = getattr(pre, 'test_cfg', None) or {}
        spec.update(size_divisor=test_cfg.get('size_divisor'),
                    pad_size=_plain(test_cfg.get('size')),
                    pad_value=float(getattr(pre, 'pad_val', 0)))
    return spec


def dense_head_meta(head: nn.Module, num_groups: int) -> dict:
    """Priors, box coder and test settings of a dense head.

    Args:
        head (nn.Module): An mmdet dense head (ATSS, RetinaNet, FCOS, ...).
        num_groups (int): Output kinds of its forward (3 with a score
            factor such as centerness).

    Returns:
        dict: ``meta['head']``.
    """
    from mmdet.models.task_modules.prior_generators import (AnchorGenerator,
                                                            MlvlPointGenerator)
    gen = head.prior_generator
    strides = [list(s) for s in gen.strides]
    if isinstance(gen, AnchorGenerator):
        priors = dict(type='anchor',
                      strides=strides,
                      base_anchors=[b.tolist() for b in gen.base_anchors])
    elif isinstance(gen, MlvlPointGenerator):
        priors = dict(type='point', strides=strides, offset=gen.offset)
    else:
        raise ValueError(f'{type(head).__name__} uses the prior generator '
                         f'{type(gen).__name__}, which the ONNX runtime '
                         'does not reproduce (AnchorGenerator and '
                         'MlvlPointGenerator are supported).')
    coder = head.bbox_coder
    name = type(coder).__name__
    if name == 'DeltaXYWHBBoxCoder':
        coder_meta = dict(type=name,
                          means=list(coder.means),
                          stds=list(coder.stds),
                          wh_ratio_clip=16 / 1000,
                          clip_border=coder.clip_border,
                          add_ctr_clamp=coder.add_ctr_clamp,
                          ctr_clamp=coder.ctr_clamp)
    elif name == 'DistancePointBBoxCoder':
        coder_meta = dict(type=name, clip_border=coder.clip_border)
    else:
        raise ValueError(f'{type(head).__name__} uses the box coder {name}; '
                         'the ONNX runtime decodes DeltaXYWHBBoxCoder and '
                         'DistancePointBBoxCoder.')
    test_cfg = _plain(dict(head.test_cfg))
    nms = test_cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms':
        raise ValueError(f'test_cfg.nms={nms}: the ONNX runtime runs plain '
                         "NMS only (type='nms').")
    return dict(type='dense',
                num_levels=len(strides),
                num_base_priors=int(head.num_base_priors),
                use_sigmoid=bool(getattr(head, 'use_sigmoid_cls', True)),
                with_score_factor=num_groups == 3,
                priors=priors,
                bbox_coder=coder_meta,
                test_cfg=test_cfg)


def decode_head_meta(head: nn.Module) -> dict:
    """Resize mode and binary threshold of a decode head."""
    return dict(type='segmentation',
                align_corners=bool(head.align_corners),
                threshold=float(getattr(head, 'threshold', None) or 0.3))
