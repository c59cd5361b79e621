"""Benchmark language-guided detection against stock mmdet, side by side.

All ratios are measured in one run, on the same machine and inputs, with
the timed runs of the two models interleaved:

- LG-ATSS train step / stock ATSS train step (frozen LM, cached vocabulary)
  -- target <= 1.10;
- LG-ATSS inference with the 1203 LVIS names / with the 80 COCO names
  -- target <= 1.30;
- baked LG-ATSS inference / stock ATSS inference -- target <= 1.05;
- language-model calls in one evaluation epoch -- target 1 per vocabulary;
- LG-ATSS checkpoint size / stock ATSS checkpoint size -- target <= 1.05.

Example (the issue's setting: R50-FPN, 2 images of 512 x 512, MiniLM)::

    python tools/benchmark/benchmark_detection.py --size 512 --depth 50 \
        --threads 1

``--tiny-lm`` swaps MiniLM for a tiny random text encoder, ``--depth 18``
and a smaller ``--size`` give a quick run on a CPU.
"""
import argparse
import io
import json
import os.path as osp
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LG_CONFIG = osp.join(ROOT, 'configs', 'detection',
                     'lg-atss_r50_fpn_1x_coco.py')
STOCK_CONFIG = osp.join('configs', 'atss', 'atss_r50_fpn_1x_coco.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--batch', type=int, default=2, help='images/step')
    parser.add_argument('--depth', type=int, default=50,
                        help='ResNet depth (50 as in the issue)')
    parser.add_argument('--iters', type=int, default=5,
                        help='timed iterations per measurement')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--eval-batches', type=int, default=3,
                        help='batches of the simulated evaluation epoch')
    parser.add_argument('--tiny-lm', action='store_true',
                        help='tiny random text encoder instead of MiniLM')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (0: leave as is)')
    parser.add_argument('--out', help='write the measurements as json')
    return parser.parse_args()


def shrink(cfg: Config, depth: int, tiny_lm: bool) -> Config:
    """No pretrained download; optional smaller backbone / tiny LM."""
    cfg.model.backbone.init_cfg = None
    if depth != 50:
        cfg.model.backbone.depth = depth
        in_channels = [64, 128, 256, 512] if depth < 50 else [
            256, 512, 1024, 2048
        ]
        neck = cfg.model.neck
        (neck.neck if neck.type == 'LLMPrefixNeck' else neck).in_channels = \
            in_channels
    if tiny_lm and cfg.model.neck.type == 'LLMPrefixNeck':
        from mmvlm.testing.tiny_models import tiny_text_encoder_cfg
        cfg.model.neck.text_encoder = tiny_text_encoder_cfg(
            'bert', embed_dims=256)
    return cfg


def build(cfg: Config):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def make_batch(args, classes, with_text: bool, seed: int = 0) -> dict:
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    s = args.size
    inputs, samples = [], []
    for _ in range(args.batch):
        meta = dict(img_shape=(s, s), ori_shape=(s, s),
                    scale_factor=(1.0, 1.0))
        if with_text:
            meta.update(text=tuple(classes), custom_entities=True)
        sample = DetDataSample(metainfo=meta)
        xy = torch.rand(5, 2, generator=gen) * s / 2
        wh = 16 + torch.rand(5, 2, generator=gen) * s / 3
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=s)], 1),
            labels=torch.randint(0, len(classes), (5, ), generator=gen))
        inputs.append(torch.randint(0, 255, (3, s, s), generator=gen,
                                    dtype=torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step_fn(model, data) -> Callable[[], None]:
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()

    def step():
        batch = model.data_preprocessor(data, True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def predict_fn(model, data) -> Callable[[], None]:
    model.eval()

    def step():
        with torch.no_grad():
            model.test_step(data)

    return step


def interleaved(fns: Dict[str, Callable], iters: int,
                warmup: int) -> Dict[str, float]:
    """Median seconds per call of each function, runs interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def checkpoint_bytes(model) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import mmvlm  # noqa: F401
    from mmvlm.apis import bake
    from mmdet.datasets import CocoDataset, LVISV1Dataset
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    coco = list(CocoDataset.METAINFO['classes'])
    lvis = list(LVISV1Dataset.METAINFO['classes'])

    lg_cfg = shrink(Config.fromfile(LG_CONFIG), args.depth, args.tiny_lm)
    import mmdet
    stock_cfg = shrink(
        Config.fromfile(
            osp.join(osp.dirname(mmdet.__file__), '.mim', STOCK_CONFIG)),
        args.depth, False)
    lg, stock = build(lg_cfg), build(stock_cfg)
    encoder = lg.neck.text_encoder
    results = dict(settings=dict(
        size=args.size, batch=args.batch, depth=args.depth,
        lm='tiny' if args.tiny_lm else lg_cfg.model.neck.text_encoder.get(
            'name_or_path'), iters=args.iters,
        threads=torch.get_num_threads()))

    # 1. Train step, frozen LM, cached vocabulary (the 80 COCO names).
    train = interleaved(
        dict(lg=train_step_fn(lg, make_batch(args, coco, True)),
             stock=train_step_fn(stock, make_batch(args, coco, False))),
        args.iters, args.warmup)
    results['train_step_s'] = train
    results['train_ratio'] = train['lg'] / train['stock']

    # 2. Inference with 1203 LVIS names vs. 80 COCO names.
    lg_lvis = build(lg_cfg)
    lg_lvis.load_state_dict(lg.state_dict(), strict=False)
    lg_lvis.neck.text_encoder = encoder  # same LM, one cache
    lg_lvis.set_vocabulary(lvis)
    lg.set_vocabulary(coco)
    plain = make_batch(args, coco, False)
    infer = interleaved(
        dict(names_1203=predict_fn(lg_lvis, plain),
             names_80=predict_fn(lg, plain)), args.iters, args.warmup)
    results['inference_s'] = infer
    results['vocab_ratio'] = infer['names_1203'] / infer['names_80']

    # 3. Baked LG-ATSS vs. stock ATSS inference.
    baked, _ = bake(lg, lg_cfg, coco,
                                     list(range(len(coco))))
    bake_times = interleaved(
        dict(baked=predict_fn(baked, plain),
             stock=predict_fn(stock, plain)), args.iters, args.warmup)
    results['baked_s'] = bake_times
    results['baked_ratio'] = bake_times['baked'] / bake_times['stock']

    # 4. LM calls in one evaluation epoch (fresh cache, dataset vocabulary).
    fresh = build(lg_cfg)
    fresh.eval()
    fresh.neck.text_encoder.lm_calls = 0
    for seed in range(args.eval_batches):
        with torch.no_grad():
            fresh.test_step(make_batch(args, coco, True, seed=seed))
    results['lm_calls_per_eval_epoch'] = fresh.neck.text_encoder.lm_calls
    results['lm_calls_vocabularies'] = 1

    # 5. Checkpoint size (the frozen LM stays out of the state dict).
    sizes = dict(lg=checkpoint_bytes(lg), stock=checkpoint_bytes(stock),
                 baked=checkpoint_bytes(baked))
    results['checkpoint_bytes'] = sizes
    results['checkpoint_ratio'] = sizes['lg'] / sizes['stock']

    rows = [
        ('LG-ATSS train step / stock ATSS', results['train_ratio'], '<= 1.10'),
        ('inference 1203 names / 80 names', results['vocab_ratio'],
         '<= 1.30'),
        ('baked inference / stock ATSS', results['baked_ratio'], '<= 1.05'),
        ('LM calls per eval epoch (1 vocabulary, '
         f'{args.eval_batches} batches)',
         results['lm_calls_per_eval_epoch'], '= 1'),
        ('checkpoint size LG / stock', results['checkpoint_ratio'],
         '<= 1.05'),
    ]
    print(f'settings: {results["settings"]}')
    print(f'train step s: {train}; inference s: {infer}; baked s: '
          f'{bake_times}; checkpoint bytes: {sizes}')
    print('| measurement | value | target |\n|---|---|---|')
    for name, value, target in rows:
        print(f'| {name} | {value:.3f} | {target} |' if isinstance(
            value, float) else f'| {name} | {value} | {target} |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
