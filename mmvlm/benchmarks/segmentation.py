"""Segmentation pairs: LG semantic FPN against the stock one, 847 vs 150.

Keys: ``s1_train_ratio_vs_fpn`` (train step, frozen LM, cached
vocabulary) and ``s2_infer_ratio_847_vs_150_{256,512}px`` (inference with
847 / 150 class names; both sides keep low-resolution ``seg_logits`` and
resize only the classes that can win a pixel).
"""
from typing import Callable, Dict, List, Optional

import torch

from mmvlm.benchmarks.timing import interleaved, model_bytes

#: mmseg datasets whose class names fill the 847-name vocabulary.
NAME_POOLS = ('ADE20KDataset', 'COCOStuffDataset', 'PascalContextDataset',
              'CityscapesDataset', 'MapillaryDataset_v2', 'LoveDADataset',
              'iSAIDDataset', 'PascalVOCDataset')


def class_names(count: int) -> List[str]:
    """``count`` distinct class names pooled from mmseg datasets.

    ADE20K-150 first, then COCO-Stuff, Pascal Context, ...; numbered
    variants fill up when the pool is smaller (names are unique
    case-insensitively, as a :class:`Vocabulary` requires).
    """
    from mmseg.registry import DATASETS
    pool: List[str] = []
    seen = set()
    for name in NAME_POOLS:
        cls = DATASETS.get(name)
        for c in (cls.METAINFO.get('classes', ()) if cls else ()):
            c = ' '.join(c.replace('_', ' ').replace('-', ' ').split())
            if c and c.lower() not in seen:
                seen.add(c.lower())
                pool.append(c)
    names = list(pool)
    i = 0
    while len(names) < count:
        names.append(f'{pool[i % len(pool)]} {i // len(pool) + 2}')
        i += 1
    return names[:count]


def model_cfgs(depth: int, tiny_lm: bool = False) -> Dict[str, dict]:
    """Stock and language-guided semantic FPN (ResNetV1c ``depth``), with
    MiniLM or (tests) a tiny random text encoder."""
    text_encoder = dict(type='HFTextEncoder',
                        name_or_path='minilm',
                        embed_dims=256)
    if tiny_lm:
        from mmvlm.testing import tiny_text_encoder_cfg
        text_encoder = tiny_text_encoder_cfg('bert', embed_dims=256)
    widths = [256, 512, 1024, 2048] if depth >= 50 else [64, 128, 256, 512]
    backbone = dict(type='ResNetV1c',
                    depth=depth,
                    out_indices=(0, 1, 2, 3),
                    norm_cfg=dict(type='BN'),
                    style='pytorch')
    fpn = dict(type='FPN', in_channels=widths, out_channels=256, num_outs=4)
    head = dict(type='FPNHead',
                in_channels=[256] * 4,
                in_index=[0, 1, 2, 3],
                feature_strides=[4, 8, 16, 32],
                channels=128,
                dropout_ratio=0.1,
                num_classes=150,
                norm_cfg=dict(type='BN'),
                align_corners=False)
    preprocessor = dict(type='SegDataPreProcessor',
                        mean=[123.675, 116.28, 103.53],
                        std=[58.395, 57.12, 57.375],
                        bgr_to_rgb=True)
    stock = dict(type='EncoderDecoder',
                 data_preprocessor=preprocessor,
                 backbone=backbone,
                 neck=fpn,
                 decode_head=head,
                 test_cfg=dict(mode='whole'))
    guided = dict(stock,
                  type='LanguageGuidedEncoderDecoder',
                  vocabulary='ADE20KDataset',
                  neck=dict(type='LLMPrefixNeck',
                            neck=fpn,
                            text_encoder=text_encoder),
                  decode_head=dict(head,
                                   type='LanguageGuidedFPNHead',
                                   embed_dims=256),
                  test_cfg=dict(mode='whole', seg_logits='low'))
    return dict(stock=stock, guided=guided)


def make_samples(batch: int, size: int, num_classes: int):
    """Samples with random ``gt_sem_seg``."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(batch):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, size, size), generator=gen))
        s.set_metainfo(
            dict(img_shape=(size, size),
                 ori_shape=(size, size),
                 pad_shape=(size, size),
                 padding_size=[0, 0, 0, 0]))
        out.append(s)
    return out


def train_step_fn(model, inputs, samples) -> Callable[[], None]:
    """One SGD step on the decode loss."""
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                            lr=1e-4)

    def step():
        model.train()
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.endswith('loss_ce'))
        optim.zero_grad()
        loss.backward()
        optim.step()

    return step


def predict_fn(model, vocabulary, inputs) -> Callable[[], None]:
    """Inference against ``vocabulary`` (set before each run)."""

    def step():
        model.eval()
        model.set_vocabulary(vocabulary)
        with torch.no_grad():
            model.predict(inputs)

    return step


def run_segmentation(settings,
                     out: Optional[dict] = None,
                     checkpoint: Callable[[], None] = lambda: None) -> dict:
    """Measure s1 and s2.

    Args:
        settings (BenchmarkSettings): Sizes, depth, repeats, device.
        out (dict, optional): ``keys``, ``details`` and ``messages`` to
            fill (a new dict when None).
        checkpoint (Callable): Called after every pair (partial results).

    Returns:
        dict: ``out``.
    """
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from mmvlm.structures import Vocabulary
    register_all_modules(init_default_scope=True)
    s = settings
    dev = s.device
    out = out if out is not None else dict(keys={}, details={}, messages=[])
    keys, details = out['keys'], out['details']
    cfgs = model_cfgs(s.depth, s.tiny_lm)
    torch.manual_seed(0)
    stock = MODELS.build(cfgs['stock']).to(dev)
    guided = MODELS.build(cfgs['guided']).to(dev)
    guided.backbone.load_state_dict(stock.backbone.state_dict())
    sizes = dict(lg=model_bytes(guided), stock=model_bytes(stock))

    inputs = torch.randn(s.batch,
                         3,
                         s.seg_train_size,
                         s.seg_train_size,
                         device=dev)
    samples = [x.to(dev) for x in make_samples(s.batch, s.seg_train_size, 150)]
    timed = interleaved(
        dict(lg=train_step_fn(guided, inputs, samples),
             stock=train_step_fn(stock, inputs, samples)), s.repeats, s.warmup,
        dev)
    details['s1_train'] = _details(timed, sizes, ('lg', 'stock'))
    keys['s1_train_ratio_vs_fpn'] = (timed['lg']['median_s'] /
                                     timed['stock']['median_s'])
    keys['mem_s1_train_ratio_vs_fpn'] = _memory_ratio(details['s1_train'],
                                                      'lg', 'stock')
    checkpoint()

    vocab = {
        847: Vocabulary.parse(class_names(847)),
        150: Vocabulary.parse(class_names(150)),
    }
    sizes.update(names_847=sizes['lg'], names_150=sizes['lg'])
    for size in s.seg_sizes:
        images = torch.randn(s.batch, 3, size, size, device=dev)
        timed = interleaved(
            dict(names_847=predict_fn(guided, vocab[847], images),
                 names_150=predict_fn(guided, vocab[150], images)), s.repeats,
            s.warmup, dev)
        name = f's2_infer_ratio_847_vs_150_{size}px'
        details[name] = _details(timed, sizes, ('names_847', 'names_150'))
        keys[name] = (timed['names_847']['median_s'] /
                      timed['names_150']['median_s'])
        keys[f'mem_{name}'] = _memory_ratio(details[name], 'names_847',
                                            'names_150')
        checkpoint()
    guided.set_vocabulary(None)
    return out


def _details(timed: Dict[str, dict], sizes: Dict[str, int], sides) -> dict:
    return dict(
        seconds={k: timed[k]['median_s']
                 for k in sides},
        runs_s={k: timed[k]['runs_s']
                for k in sides},
        memory_bytes={k: sizes[k] + timed[k]['peak_bytes']
                      for k in sides})


def _memory_ratio(detail: dict, a: str, b: str) -> float:
    return detail['memory_bytes'][a] / detail['memory_bytes'][b]
