"""Benchmark language-guided segmentation against stock mmseg, side by side.

Two ratios, measured in one run with interleaved repetitions (median
seconds per step):

- train step of the language-guided Semantic FPN (LanguageGuidedFPNHead,
  frozen LM, cached vocabulary) / the stock FPNHead model, same backbone;
- inference of the language-guided model with 847 class names / with 150.

Example::

    python tools/benchmark/benchmark_segmentation.py --size 512 --batch 2 \
        --depth 50 --text-encoder minilm --repeats 5 --out bench.json

Goals (issue 5): train ratio <= 1.10, 847/150 inference ratio <= 1.30.
They are reported, never asserted: timings on shared CPUs are noisy.
"""
import argparse
import json
import statistics
import time
from typing import Callable, Dict, List

import torch

import mmvlm  # noqa: F401  (registers components)
from mmseg.registry import DATASETS, MODELS
from mmseg.utils import register_all_modules

from mmvlm.structures import Vocabulary


def class_names(count: int) -> List[str]:
    """``count`` distinct real class names pooled from mmseg datasets.

    ADE20K-150 first, then COCO-Stuff, Pascal Context, Cityscapes...;
    numbered variants fill up when the pool is smaller than ``count``.
    """
    pool: List[str] = []
    for name in ('ADE20KDataset', 'COCOStuffDataset', 'PascalContextDataset',
                 'CityscapesDataset', 'MapillaryDataset_v2', 'LoveDADataset',
                 'iSAIDDataset', 'PascalVOCDataset'):
        cls = DATASETS.get(name)
        if cls is None:
            continue
        for c in cls.METAINFO.get('classes', ()):
            c = c.replace('_', ' ').replace('-', ' ').strip()
            if c and c not in pool:
                pool.append(c)
    names = list(pool)
    i = 0
    while len(names) < count:
        names.append(f'{pool[i % len(pool)]} {i // len(pool) + 2}')
        i += 1
    return names[:count]


def text_encoder_cfg(kind: str, embed_dims: int) -> dict:
    if kind == 'tiny':
        from mmvlm.testing import tiny_text_encoder_cfg
        return tiny_text_encoder_cfg('bert', embed_dims=embed_dims)
    return dict(type='HFTextEncoder', name_or_path=kind, embed_dims=embed_dims)


def model_cfgs(args) -> Dict[str, dict]:
    """Stock and language-guided Semantic FPN configs."""
    widths = [256, 512, 1024, 2048
              ] if args.depth >= 50 else [64, 128, 256, 512]
    backbone = dict(type='ResNetV1c',
                    depth=args.depth,
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
                            text_encoder=text_encoder_cfg(
                                args.text_encoder, 256)),
                  decode_head=dict(head,
                                   type='LanguageGuidedFPNHead',
                                   embed_dims=256))
    return dict(stock=stock, guided=guided)


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def train_step(model, optim, inputs, samples) -> Callable[[], None]:

    def step():
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.endswith('loss_ce'))
        optim.zero_grad()
        loss.backward()
        optim.step()

    return step


def make_samples(batch: int, size: int, num_classes: int):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    out = []
    for _ in range(batch):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, size, size)))
        s.set_metainfo(
            dict(img_shape=(size, size),
                 ori_shape=(size, size),
                 pad_shape=(size, size),
                 padding_size=[0, 0, 0, 0]))
        out.append(s)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--text-encoder',
                        default='minilm',
                        help="'minilm', a local path, or 'tiny' (random)")
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out', default=None, help='json file to write')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    cfgs = model_cfgs(args)
    stock = MODELS.build(cfgs['stock'])
    guided = MODELS.build(cfgs['guided'])
    guided.backbone.load_state_dict(stock.backbone.state_dict())
    ade = Vocabulary.parse('ADE20KDataset').entries
    inputs = torch.randn(args.batch, 3, args.size, args.size)
    samples = make_samples(args.batch, args.size, 150)
    steps = {
        'stock_train':
        train_step(stock.train(), torch.optim.SGD(stock.parameters(), lr=1e-4),
                   inputs, samples),
        'guided_train':
        train_step(
            guided.train(),
            torch.optim.SGD(
                [p for p in guided.parameters() if p.requires_grad], lr=1e-4),
            inputs, samples),
    }
    times: Dict[str, List[float]] = {k: [] for k in steps}
    for rep in range(args.warmup + args.repeats):
        for name, step in steps.items():  # interleaved, side by side
            t = timed(step)
            if rep >= args.warmup:
                times[name].append(t)

    guided.eval()
    names_847 = class_names(847)
    vocab = {
        150: Vocabulary.parse(list(ade)),
        847: Vocabulary.parse(names_847)
    }
    infer = {f'infer_{k}': [] for k in vocab}
    with torch.no_grad():
        for rep in range(args.warmup + args.repeats):
            for k, v in vocab.items():
                guided.set_vocabulary(v)
                t = timed(lambda: guided.predict(inputs))
                if rep >= args.warmup:
                    infer[f'infer_{k}'].append(t)
    times.update(infer)
    median = {k: statistics.median(v) for k, v in times.items()}
    report = dict(settings=vars(args),
                  seconds_median=median,
                  train_ratio_guided_over_stock=median['guided_train'] /
                  median['stock_train'],
                  infer_ratio_847_over_150=median['infer_847'] /
                  median['infer_150'],
                  goals=dict(train_ratio=1.10, infer_ratio=1.30))
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
