"""Detection pairs: LG-ATSS against stock ATSS, GLIP and Grounding-DINO.

Keys (goals in :data:`mmvlm.benchmarks.runner.GOALS`): ``p1`` train step
vs stock ATSS; ``p2`` train / inference vs mmdet's GLIP and LVIS inference
vs mmdet's Grounding-DINO (in the reference environment); ``p3`` 1203 vs 80
names; ``p4`` vocabulary-baked vs stock inference; ``p5`` language-model
calls in one evaluation epoch; ``p6`` checkpoint bytes vs stock.
"""
import io
import os.path as osp
from typing import Callable, Dict, Optional

import torch
from mmengine.config import Config

from mmvlm.benchmarks.timing import interleaved, model_bytes

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LG_CONFIG = osp.join(ROOT, 'configs', 'detection',
                     'lg-atss_r50_fpn_1x_coco.py')
STOCK_CONFIG = osp.join('configs', 'atss', 'atss_r50_fpn_1x_coco.py')


def shrink(cfg: Config, depth: int, tiny_lm: bool = False) -> Config:
    """No pretrained download; ResNet ``depth`` with its FPN widths;
    optionally a tiny random text encoder (tests)."""
    cfg.model.backbone.init_cfg = None
    if tiny_lm and cfg.model.neck.type == 'LLMPrefixNeck':
        from mmvlm.testing import tiny_text_encoder_cfg
        cfg.model.neck.text_encoder = tiny_text_encoder_cfg('bert',
                                                            embed_dims=256)
    if depth != 50:
        cfg.model.backbone.depth = depth
        widths = [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]
        neck = cfg.model.neck
        (neck.neck if neck.type == 'LLMPrefixNeck' else neck).in_channels = \
            widths
    return cfg


def build(cfg: Config, device: str):
    """Build and initialise a detector (seed 0)."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.to(device)


def make_batch(classes,
               batch: int,
               size: int,
               with_text: bool,
               seed: int = 0) -> dict:
    """Random ``size`` x ``size`` images with 5 boxes each."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch):
        meta = dict(img_shape=(size, size),
                    ori_shape=(size, size),
                    scale_factor=(1.0, 1.0))
        if with_text:
            meta.update(text=tuple(classes), custom_entities=True)
        sample = DetDataSample(metainfo=meta)
        xy = torch.rand(5, 2, generator=gen) * size / 2
        wh = 16 + torch.rand(5, 2, generator=gen) * size / 3
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=size)], 1),
            labels=torch.randint(0, len(classes), (5, ), generator=gen))
        inputs.append(
            torch.randint(0,
                          255, (3, size, size),
                          generator=gen,
                          dtype=torch.uint8))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step_fn(model, data) -> Callable[[], None]:
    """One SGD step of the trainable parameters."""
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        model.train()
        batch = model.data_preprocessor(data, True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        loss, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def predict_fn(model, data) -> Callable[[], None]:
    """One ``test_step`` (preprocessing, forward, post-processing)."""

    def step():
        model.eval()
        with torch.no_grad():
            model.test_step(data)

    return step


def checkpoint_bytes(model) -> int:
    """Bytes of ``torch.save(model.state_dict())``."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def _pair(name: str, a: str, b: str, timed: Dict[str, dict],
          sizes: Dict[str, int], details: dict) -> dict:
    """Time and memory ratio of side ``a`` over side ``b``."""
    memory = {k: sizes[k] + timed[k]['peak_bytes'] for k in (a, b)}
    details[name] = dict(seconds={k: timed[k]['median_s']
                                  for k in (a, b)},
                         runs_s={k: timed[k]['runs_s']
                                 for k in (a, b)},
                         memory_bytes=memory)
    return dict(time=timed[a]['median_s'] / timed[b]['median_s'],
                memory=memory[a] / memory[b])


def run_detection(settings,
                  reference=None,
                  reference_message: Optional[str] = None,
                  out: Optional[dict] = None,
                  checkpoint: Callable[[], None] = lambda: None) -> dict:
    """Measure p1, p3-p6, then p2 (only with a reference session).

    Args:
        settings (BenchmarkSettings): Sizes, depth, repeats, device.
        reference (ReferenceSession, optional): The GLIP / Grounding-DINO
            worker; None leaves the p2 keys None.
        reference_message (str, optional): Why there is no reference.
        out (dict, optional): ``keys``, ``details`` and ``messages`` to
            fill (a new dict when None).
        checkpoint (Callable): Called after every pair (partial results).

    Returns:
        dict: ``out``: ``keys`` (the JSON keys), ``details`` (seconds and
        bytes of every side) and ``messages``.
    """
    from mmdet.datasets import CocoDataset, LVISV1Dataset
    from mmdet.utils import register_all_modules

    from mmvlm.apis import bake
    register_all_modules(init_default_scope=True)
    s = settings
    dev = s.device
    coco = list(CocoDataset.METAINFO['classes'])
    lvis = list(LVISV1Dataset.METAINFO['classes'])
    out = out if out is not None else dict(keys={}, details={}, messages=[])
    keys, details, messages = out['keys'], out['details'], out['messages']

    import mmdet
    lg_cfg = shrink(Config.fromfile(LG_CONFIG), s.depth, s.tiny_lm)
    stock_cfg = shrink(
        Config.fromfile(
            osp.join(osp.dirname(mmdet.__file__), '.mim', STOCK_CONFIG)),
        s.depth)
    lg, stock = build(lg_cfg, dev), build(stock_cfg, dev)
    sizes = dict(lg=model_bytes(lg), stock=model_bytes(stock))
    text = make_batch(coco, s.batch, s.size, True)
    plain = make_batch(coco, s.batch, s.size, False)

    # p1: train step, frozen LM, cached vocabulary (the 80 COCO names).
    timed = interleaved(
        dict(lg=train_step_fn(lg, text), stock=train_step_fn(stock, plain)),
        s.repeats, s.warmup, dev)
    r = _pair('p1_train', 'lg', 'stock', timed, sizes, details)
    keys['p1_train_ratio_vs_atss'] = r['time']
    keys['mem_p1_train_ratio_vs_atss'] = r['memory']
    checkpoint()

    # p3: inference with 1203 LVIS names / 80 COCO names (one LM, cache).
    lg_lvis = build(lg_cfg, dev)
    lg_lvis.load_state_dict(lg.state_dict(), strict=False)
    lg_lvis.neck.text_encoder = lg.neck.text_encoder
    lg_lvis.set_vocabulary(lvis)
    lg.set_vocabulary(coco)
    sizes.update(lg_1203=sizes['lg'], lg_80=sizes['lg'])
    timed = interleaved(
        dict(lg_1203=predict_fn(lg_lvis, plain), lg_80=predict_fn(lg, plain)),
        s.repeats, s.warmup, dev)
    r = _pair('p3_infer', 'lg_1203', 'lg_80', timed, sizes, details)
    keys['p3_infer_ratio_1203_vs_80'] = r['time']
    keys['mem_p3_infer_ratio_1203_vs_80'] = r['memory']
    checkpoint()

    # p4: vocabulary-baked LG-ATSS / stock ATSS inference.
    baked, _ = bake(lg, lg_cfg, coco, list(range(len(coco))))
    baked = baked.to(dev)
    sizes['baked'] = model_bytes(baked)
    timed = interleaved(
        dict(baked=predict_fn(baked, plain), stock=predict_fn(stock, plain)),
        s.repeats, s.warmup, dev)
    r = _pair('p4_baked_infer', 'baked', 'stock', timed, sizes, details)
    keys['p4_baked_infer_ratio_vs_atss'] = r['time']
    keys['mem_p4_baked_infer_ratio_vs_atss'] = r['memory']
    checkpoint()

    # p5: LM forward calls in one evaluation epoch (fresh model and cache,
    # the dataset vocabulary in every sample, several batches).
    fresh = build(lg_cfg, dev)
    fresh.eval()
    encoder = fresh.neck.text_encoder
    encoder.lm_calls = 0
    for seed in range(s.eval_batches):
        with torch.no_grad():
            fresh.test_step(make_batch(coco, s.batch, s.size, True, seed))
    keys['p5_lm_calls_per_eval'] = int(encoder.lm_calls)
    details['p5_eval_epoch'] = dict(batches=s.eval_batches,
                                    vocabularies=1,
                                    lm_calls=int(encoder.lm_calls))
    del fresh

    # p6: checkpoint bytes (the frozen LM stays out of the state dict).
    ckpt = dict(lg=checkpoint_bytes(lg),
                stock=checkpoint_bytes(stock),
                baked=checkpoint_bytes(baked))
    keys['p6_ckpt_ratio'] = ckpt['lg'] / ckpt['stock']
    details['p6_checkpoint_bytes'] = ckpt
    checkpoint()

    # p2: mmdet's GLIP and Grounding-DINO, in the reference environment.
    p2 = ('p2_train_ratio_vs_glip', 'p2_infer_ratio_vs_glip',
          'p2_lvis_infer_ratio_vs_gdino', 'mem_p2_train_ratio_vs_glip',
          'mem_p2_infer_ratio_vs_glip', 'mem_p2_lvis_infer_ratio_vs_gdino')
    for key in p2:
        keys[key] = None
    if reference is None:
        messages.append(f'p2 keys are null: {reference_message}')
        return out
    from mmvlm.benchmarks.references import ReferenceUnavailable
    try:
        _reference_pairs(s, reference, lg, lg_lvis, lg_cfg, text, plain, coco,
                         lvis, sizes, keys, details, checkpoint)
    except ReferenceUnavailable as error:
        for key in p2:
            keys[key] = None
        messages.append(f'p2 keys are null: {error}')
    return out


def _reference_pairs(s, reference, lg, lg_lvis, lg_cfg, text, plain, coco,
                     lvis, sizes, keys, details, checkpoint) -> None:
    """p2: LG-ATSS against GLIP and Grounding-DINO (reference worker)."""
    dev = s.device
    from mmvlm.models.text_encoders.model_sources import \
        resolve_model_source
    minilm = resolve_model_source(
        lg_cfg.model.neck.text_encoder.name_or_path).path
    bert = reference.random_bert(minilm, s.glip_lm_layers)
    sizes['glip'] = reference.build('glip',
                                    s.depth,
                                    bert,
                                    num_layers=s.glip_blocks,
                                    device=dev)
    timed = interleaved(
        dict(lg=train_step_fn(lg, text),
             glip=reference.step_fn('glip_train', 'glip', coco, s.batch,
                                    s.size, True)), s.repeats, s.warmup, dev)
    r = _pair('p2_train', 'lg', 'glip', timed, sizes, details)
    keys['p2_train_ratio_vs_glip'] = r['time']
    keys['mem_p2_train_ratio_vs_glip'] = r['memory']
    checkpoint()
    timed = interleaved(
        dict(lg=predict_fn(lg, plain),
             glip=reference.step_fn('glip_infer', 'glip', coco, s.batch,
                                    s.size, False)), s.repeats, s.warmup, dev)
    r = _pair('p2_infer', 'lg', 'glip', timed, sizes, details)
    keys['p2_infer_ratio_vs_glip'] = r['time']
    keys['mem_p2_infer_ratio_vs_glip'] = r['memory']
    checkpoint()

    # Grounding-DINO: batch 1 (its chunked path takes one image), the same
    # lvis_size image on both sides; 1203 and 80 names on each side.
    sizes['gdino'] = reference.build('gdino',
                                     s.depth,
                                     minilm,
                                     num_layers=s.gdino_layers,
                                     num_queries=s.gdino_queries,
                                     device=dev)
    one = make_batch(coco, 1, s.lvis_size, False)
    sizes.update(gdino_1203=sizes['gdino'], gdino_80=sizes['gdino'])
    timed = interleaved(
        dict(lg_1203=predict_fn(lg_lvis, one),
             gdino_1203=reference.step_fn('gdino_1203', 'gdino', lvis, 1,
                                          s.lvis_size, False),
             lg_80=predict_fn(lg, one),
             gdino_80=reference.step_fn('gdino_80', 'gdino', coco, 1,
                                        s.lvis_size, False)), s.repeats,
        s.warmup, dev)
    r = _pair('p2_lvis_infer', 'lg_1203', 'gdino_1203', timed, sizes, details)
    keys['p2_lvis_infer_ratio_vs_gdino'] = r['time']
    keys['mem_p2_lvis_infer_ratio_vs_gdino'] = r['memory']
    details['p2_lvis_names_ratio'] = dict(
        lg_1203_vs_80=timed['lg_1203']['median_s'] /
        timed['lg_80']['median_s'],
        gdino_1203_vs_80=timed['gdino_1203']['median_s'] /
        timed['gdino_80']['median_s'])
