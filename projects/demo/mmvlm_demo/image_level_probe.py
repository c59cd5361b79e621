"""Fast what-if runs of the image-level concept models on cached features.

The backbone of every config in ``projects/demo/configs/image_level`` is
frozen whole (no augmentation), so its output map of each crop is the same
at every step. This tool computes the maps once (``features.pt`` in the
work folder), swaps each model's backbone for :class:`CachedMap` and trains
the rest of the model (the same classes, losses and optimiser settings as
the config: AdamW, cosine decay, ``paramwise_cfg`` ``custom_keys``
``lr_mult``) with a plain loop, then scores the validation splits.
It is how the choices of ``docs/image_level.md`` were made on the
validation names; the reported numbers come from the configs run by
mmengine's runner (:mod:`.image_level_concepts`).

    python -m mmvlm_demo.image_level_probe --model lg --iters 300 \\
        --options '{"model": {"head": {"init_cfg": null}}}'
"""
import argparse
import json
import math
import os
import os.path as osp
import time
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .image_level_concept_data import prepare_concept_crops
from .image_level_concepts import (PART_IDS, labels_of, load_config,
                                   load_split, topk_accuracy)

#: splits whose maps are cached.
FEATURE_SPLITS = ('train', 'val_seen', 'val_held_out', 'val_held_out_noto')


class CachedMap(nn.Module):
    """A backbone that returns its input: the cached output map."""

    def forward(self, x: torch.Tensor) -> tuple:
        return (x, )


def cache_features(work_dir: str, data_root: str) -> Dict:
    """Backbone maps and labels of :data:`FEATURE_SPLITS` (cached).

    Args:
        work_dir (str): Where ``features.pt`` is kept.
        data_root (str): The crops folder.

    Returns:
        dict: split -> ``(maps [N, C, h, w], labels [N])``.
    """
    path = osp.join(work_dir, 'features.pt')
    if osp.isfile(path):
        return torch.load(path)
    from mmpretrain.registry import MODELS
    cfg = load_config('stock', osp.join(work_dir, 'stock'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    out = {}
    with torch.no_grad():
        for split in FEATURE_SPLITS:
            samples = load_split(data_root, split)
            maps = []
            for start in range(0, len(samples), 64):
                items = samples[start:start + 64]
                data = model.data_preprocessor(
                    dict(inputs=[d['inputs'] for d in items]))
                maps.append(model.backbone(data['inputs'])[-1])
            out[split] = (torch.cat(maps), labels_of(samples))
    os.makedirs(work_dir, exist_ok=True)
    torch.save(out, path)
    return out


def build_head_model(kind: str, work_dir: str, options: Optional[dict]):
    """The config's model with its backbone replaced by
    :class:`CachedMap`, and the config."""
    from mmpretrain.registry import MODELS
    cfg = load_config(kind, osp.join(work_dir, kind), options=options)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.backbone = CachedMap()
    return model, cfg


def param_groups(model: nn.Module, cfg) -> list:
    """Trainable parameters grouped by the config's ``custom_keys``
    ``lr_mult`` (first matching key wins, as mmengine's longest-key rule
    is not needed for the keys used here)."""
    base = cfg.optim_wrapper.optimizer.lr
    keys = (cfg.optim_wrapper.get('paramwise_cfg')
            or {}).get('custom_keys', {})
    groups: Dict[float, list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        mult = 1.0
        for key, value in keys.items():
            if key in name:
                mult = value.get('lr_mult', 1.0)
                break
        groups.setdefault(mult, []).append(param)
    return [dict(params=p, lr=base * m, initial_lr=base * m)
            for m, p in groups.items()]


def train_probe(model, cfg, maps, labels, iters: int, batch: int,
                seed: int = 0) -> float:
    """Train ``model`` on cached maps; returns the mean loss of the last
    20 steps."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(seed)
    groups = param_groups(model, cfg)
    opt = torch.optim.AdamW(groups,
                            weight_decay=cfg.optim_wrapper.optimizer.get(
                                'weight_decay', 0.0))
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    losses = []
    model.train()
    position = 0
    for step in range(iters):
        if position + batch > len(order):
            order = torch.randperm(len(labels), generator=generator)
            position = 0
        index = order[position:position + batch]
        position += batch
        samples = [
            DataSample().set_gt_label(int(label)) for label in labels[index]
        ]
        loss = model.loss(maps[index], samples)['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        factor = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step + 1) /
                                                   iters))
        for group in opt.param_groups:
            group['lr'] = group['initial_lr'] * factor
        losses.append(float(loss))
    return sum(losses[-20:]) / len(losses[-20:])


def score_probe(model, kind: str, maps, labels,
                ids: Sequence[int]) -> Dict[str, float]:
    """Top-1 / top-5 of cached maps among the names ``ids``."""
    from .image_level_concepts import CLASSES
    model.eval()
    with torch.no_grad():
        if kind == 'stock':
            scores = model(maps, mode='tensor')[:, list(ids)]
        else:
            model.set_vocabulary([CLASSES[i] for i in ids])
            scores = torch.cat([
                model(maps[s:s + 64], mode='tensor')
                for s in range(0, len(maps), 64)
            ])
            model.set_vocabulary(None)
    return dict(top1=topk_accuracy(scores, labels, ids, 1),
                top5=topk_accuracy(scores, labels, ids, 5))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--cache-dir', default='data/demo/.cache')
    parser.add_argument('--work-dir', default='work_dirs/image_level_probe')
    parser.add_argument('--model', default='lg')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--options', type=json.loads, default=None)
    parser.add_argument('--tag', default=None)
    args = parser.parse_args(argv)
    import mmvlm  # noqa: F401  registers the models into mmpretrain
    crops = prepare_concept_crops(args.data_root, args.cache_dir)
    feats = cache_features(args.work_dir, crops)
    model, cfg = build_head_model(args.model, args.work_dir, args.options)
    start = time.time()
    maps, labels = feats['train']
    loss = train_probe(model, cfg, maps, labels, args.iters,
                       args.batch_size)
    row = dict(tag=args.tag or args.model,
               model=args.model,
               iters=args.iters,
               batch=args.batch_size,
               options=args.options,
               loss=round(loss, 3),
               train_s=round(time.time() - start))
    seen = score_probe(model, args.model, *feats['val_seen'],
                       PART_IDS['seen'])
    row.update(val_seen_top1=seen['top1'], val_seen_top5=seen['top5'])
    if args.model != 'stock':
        for split in ('val_held_out', 'val_held_out_noto'):
            held = score_probe(model, args.model, *feats[split],
                               PART_IDS['val_held_out'])
            row.update({f'{split}_top1': held['top1'],
                        f'{split}_top5': held['top5']})
    print(json.dumps(row))
    with open(osp.join(args.work_dir, 'probes.jsonl'), 'a') as f:
        f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
    main()
