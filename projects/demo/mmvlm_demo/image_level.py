"""Image-level demo: brain MRI patches classified by region name.

Patches of the Colin27 T1 MRI (Debian ``mricron-data``, the brain demo's
source, see :mod:`mmvlm_demo.brain`) centred on voxels of AAL regions, each
labelled with its region's readable name ("left hippocampus"). One side of
some region pairs is held out of training: its name is scored only at test
time (open vocabulary). Four models, same backbone (a narrow ResNet-18),
same iterations, same seed, trained with mmengine's runner in the mmpretrain
environment:

- ``stock``: mmpretrain ``ImageClassifier`` + ``LinearClsHead`` (closed set);
- ``lg-minilm``: :class:`LanguageGuidedImageClassifier` (frozen MiniLM);
- ``frozen-embedding``: :class:`FrozenPrefixClassifier`, SmolLM2-135M,
  embedding mode;
- ``frozen-generative``: the same, generative mode (log-likelihood of each
  name after the visual prefix).

Run with ``bash projects/demo/run_image_level_demo.sh`` (it builds
``.venv-mmpretrain`` when missing); writes ``report.md`` and
``results.json`` into the work folder.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Dict, List, Sequence

import numpy as np

from .brain import aal_readable_name, fetch_mricron_templates, read_aal_names

#: AAL region pairs of the demo (both hemispheres each).
REGION_BASES = ('Precentral', 'Frontal_Mid', 'Temporal_Mid', 'Precuneus',
                'Cerebelum_Crus1', 'Insula', 'Hippocampus', 'Caudate',
                'Thalamus', 'Calcarine')
#: Held out of training (scored only at test time); their other side is
#: trained.
HELD_OUT = ('Hippocampus_R', 'Caudate_L', 'Thalamus_R', 'Calcarine_L')
REGIONS = tuple(f'{b}_{s}' for b in REGION_BASES for s in ('L', 'R'))
MODELS = ('stock', 'lg-minilm', 'frozen-embedding', 'frozen-generative')
PATCH = 32
STAMP = 'patches-v1'


# ------------------------------------------------------------------ data
def _uint8(volume: np.ndarray) -> np.ndarray:
    low, high = np.percentile(volume[volume > 0], (1, 99.5))
    scaled = (volume - low) / max(high - low, 1e-6)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def prepare_patches(data_root: str,
                    cache_dir: str,
                    train_per_class: int = 48,
                    test_per_class: int = 12,
                    seed: int = 0) -> Dict:
    """Cut labelled MRI patches and write an mmpretrain ``CustomDataset``.

    Each patch is ``PATCH x PATCH`` axial pixels around a voxel of the
    region, its three channels the slices ``z - 2, z, z + 2``. Training and
    test centres come from different axial slabs (slices ``z mod 10 < 7``
    train, the rest test), so no test patch shares its centre slice with a
    training patch (patches still overlap across slabs by up to 17 slices).

    Args:
        data_root (str): Output folder (``images/``, ``train.txt``,
            ``test.txt``, ``meta.json``).
        cache_dir (str): Download cache of the brain demo.
        train_per_class (int): Training patches per trained region.
        test_per_class (int): Test patches per region.
        seed (int): Sampling seed.

    Returns:
        dict: ``meta.json``: classes (readable names), held-out ids, counts.
    """
    meta_path = osp.join(data_root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get('stamp') == STAMP and meta.get('train_per_class') == \
                train_per_class and meta.get('test_per_class') == \
                test_per_class:
            return meta
    import nibabel as nib
    from PIL import Image
    templates = fetch_mricron_templates(cache_dir)
    mri = nib.load(osp.join(templates, 'ch2.nii.gz'))
    atlas = nib.load(osp.join(templates, 'aal.nii.gz'))
    if not np.allclose(mri.affine, atlas.affine):
        raise ValueError('ch2.nii.gz and aal.nii.gz are not on one grid.')
    volume = _uint8(np.asarray(mri.dataobj, dtype=np.float32))
    labels = np.asarray(atlas.dataobj).astype(np.int32)
    by_name = {
        v: k
        for k, v in read_aal_names(osp.join(templates, 'aal.nii.txt')).items()
    }
    rng = np.random.default_rng(seed)
    half = PATCH // 2
    padded = np.pad(volume, ((half, half), (half, half), (2, 2)))
    os.makedirs(osp.join(data_root, 'images'), exist_ok=True)
    lines = {'train': [], 'test': []}
    for class_id, region in enumerate(REGIONS):
        voxels = np.argwhere(labels == by_name[region])
        slab = voxels[:, 2] % 10 < 7
        splits = [('test', voxels[~slab], test_per_class)]
        if region not in HELD_OUT:
            splits.append(('train', voxels[slab], train_per_class))
        for split, pool, count in splits:
            picks = pool[rng.choice(len(pool), count, replace=False)]
            for n, (x, y, z) in enumerate(picks):
                crop = padded[x:x + PATCH, y:y + PATCH, z:z + 5:2]
                # radiological display: rows = anterior->posterior
                image = np.ascontiguousarray(np.rot90(crop, 1))
                name = f'{region}_{split}_{n:03d}.png'
                Image.fromarray(image).save(osp.join(data_root, 'images',
                                                     name))
                lines[split].append(f'{name} {class_id}')
    for split, rows in lines.items():
        with open(osp.join(data_root, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(rows) + '\n')
    meta = dict(
        stamp=STAMP,
        classes=[aal_readable_name(r) for r in REGIONS],
        aal_names=list(REGIONS),
        held_out=[REGIONS.index(r) for r in HELD_OUT],
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        num_train=len(lines['train']),
        num_test=len(lines['test']),
        source='Colin27 ch2.nii.gz + AAL aal.nii.gz, Debian mricron-data')
    with open(meta_path, 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


# ---------------------------------------------------------------- models
def model_config(kind: str, classes: Sequence[str],
                 seen: Sequence[int]) -> dict:
    """The model of one demo row (same backbone for all)."""
    backbone = dict(type='ResNet',
                    depth=18,
                    base_channels=16,
                    stem_channels=16,
                    out_indices=(3, ))
    preprocessor = dict(type='ClsDataPreprocessor',
                        mean=[100.0] * 3,
                        std=[60.0] * 3)
    every = dict(texts=list(classes), label_ids=list(range(len(classes))))
    trained = dict(texts=[classes[i] for i in seen], label_ids=list(seen))
    if kind == 'stock':
        return dict(type='ImageClassifier',
                    backbone=backbone,
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(type='LinearClsHead',
                              num_classes=len(classes),
                              in_channels=128),
                    data_preprocessor=preprocessor)
    if kind == 'lg-minilm':
        return dict(type='LanguageGuidedImageClassifier',
                    backbone=backbone,
                    neck=dict(type='LLMPrefixNeck',
                              neck=dict(type='GlobalAveragePooling'),
                              text_encoder=dict(type='HFTextEncoder',
                                                name_or_path='minilm',
                                                embed_dims=128)),
                    head=dict(type='LanguageGuidedClsHead',
                              num_classes=len(classes),
                              in_channels=128,
                              embed_dims=128),
                    vocabulary=every,
                    train_vocabulary=trained,
                    data_preprocessor=preprocessor)
    if kind.startswith('frozen-'):
        mode = kind.split('-', 1)[1]
        return dict(type='FrozenPrefixClassifier',
                    mode=mode,
                    backbone=backbone,
                    text_encoder=dict(
                        type='HFTextEncoder',
                        name_or_path='smollm2-135m',
                        embed_dims=128 if mode == 'embedding' else None),
                    visual_prefix=dict(in_channels=128,
                                       num_visual_tokens=2,
                                       num_heads=4),
                    prompt='Brain region:',
                    vocabulary=every,
                    train_vocabulary=trained,
                    data_preprocessor=preprocessor)
    raise ValueError(f'Unknown model {kind!r}; choose from {MODELS}.')


def _dataset(data_root: str, split: str, classes: Sequence[str]) -> dict:
    return dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file=f'{split}.txt',
        data_prefix='images',
        metainfo=dict(classes=list(classes)),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')])


def train(kind: str,
          meta: Dict,
          data_root: str,
          work_dir: str,
          iters: int,
          batch_size: int,
          lr: float = 1e-3):
    """Train one model with mmengine's runner; returns the model."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    classes = meta['classes']
    seen = [i for i in range(len(classes)) if i not in meta['held_out']]
    cfg = Config(
        dict(default_scope='mmpretrain',
             model=model_config(kind, classes, seen),
             work_dir=osp.join(work_dir, kind),
             train_dataloader=dict(batch_size=batch_size,
                                   num_workers=0,
                                   persistent_workers=False,
                                   dataset=_dataset(data_root, 'train',
                                                    classes),
                                   sampler=dict(type='InfiniteSampler',
                                                shuffle=True)),
             train_cfg=dict(by_epoch=False, max_iters=iters),
             optim_wrapper=dict(
                 optimizer=dict(type='AdamW', lr=lr, weight_decay=1e-4)),
             param_scheduler=[
                 dict(type='CosineAnnealingLR',
                      by_epoch=False,
                      T_max=iters,
                      eta_min=lr * 0.05)
             ],
             default_hooks=dict(logger=dict(type='LoggerHook', interval=10),
                                checkpoint=dict(type='CheckpointHook',
                                                by_epoch=False,
                                                interval=iters,
                                                max_keep_ckpts=1)),
             randomness=dict(seed=0),
             log_level='WARNING'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model


def class_scores(model, kind: str, data_root: str,
                 classes: Sequence[str]) -> tuple:
    """``[N, C]`` scores of every test patch over all names, and labels."""
    import torch
    from mmengine.dataset import default_collate  # noqa: F401
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(_dataset(data_root, 'test', classes))
    model.eval()
    if kind != 'stock':
        model.set_vocabulary(list(classes),
                             label_ids=list(range(len(classes))))
    scores, labels = [], []
    with torch.no_grad():
        for start in range(0, len(dataset), 32):
            items = [
                dataset[i] for i in range(start, min(start + 32, len(dataset)))
            ]
            data = model.data_preprocessor(
                dict(inputs=[d['inputs'] for d in items],
                     data_samples=[d['data_samples'] for d in items]))
            scores.append(model(data['inputs'], mode='tensor').float())
            labels += [int(d['data_samples'].gt_label) for d in items]
    return torch.cat(scores), torch.tensor(labels)


def describe(model, data_root: str, meta: Dict) -> Dict[str, str]:
    """Free text (beam search, 8 tokens) for the first test patch of each
    held-out region, by region name."""
    import torch
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(_dataset(data_root, 'test', meta['classes']))
    texts = {}
    for index in range(len(dataset)):
        item = dataset[index]
        label = int(item['data_samples'].gt_label)
        name = meta['classes'][label]
        if label not in meta['held_out'] or name in texts:
            continue
        data = model.data_preprocessor(dict(inputs=[item['inputs']]))
        with torch.no_grad():
            texts[name] = model.generate(data['inputs'],
                                         max_new_tokens=8,
                                         num_beams=3)[0]
    return texts


def top1(scores, labels, rows, columns) -> float:
    """Top-1 (%) of ``rows`` when only ``columns`` are scored."""
    import torch
    if not len(rows):
        return float('nan')
    cols = torch.tensor(columns)
    pred = cols[scores[rows][:, cols].argmax(1)]
    return float((pred == labels[rows]).float().mean() * 100)


def evaluate(scores, labels, held_out: Sequence[int],
             num_classes: int) -> Dict[str, float]:
    """Seen / held-out top-1 over all names, and held-out among
    held-out names only."""
    import torch
    held = torch.tensor([int(label) in held_out for label in labels])
    seen_rows = torch.where(~held)[0]
    held_rows = torch.where(held)[0]
    every = list(range(num_classes))
    return dict(seen_top1=top1(scores, labels, seen_rows, every),
                heldout_top1=top1(scores, labels, held_rows, every),
                heldout_among_heldout_top1=top1(scores, labels, held_rows,
                                                list(held_out)),
                all_top1=top1(scores, labels, torch.arange(len(labels)),
                              every))


def write_report(path: str, meta: Dict, rows: List[Dict], args) -> None:
    lines = [
        '# Image-level demo: brain MRI patches classified by region name',
        '',
        f'{meta["num_train"]} training / {meta["num_test"]} test patches '
        f'({PATCH}x{PATCH}, slices z-2, z, z+2) of {meta["source"]}; '
        f'{len(meta["classes"])} AAL regions, held out of training: ' +
        ', '.join(meta['classes'][i] for i in meta['held_out']) + '.',
        f'Every model: ResNet-18 (base width 16), {args.iters} iterations, '
        f'batch {args.batch_size}, AdamW lr {args.lr}, seed 0.',
        '',
        '| model | seen top-1 (all names) | held-out top-1 (all names) | '
        'held-out top-1 (held-out names) | train s | test s |',
        '| --- | ---: | ---: | ---: | ---: | ---: |',
    ]
    for row in rows:
        lines.append(f'| {row["model"]} | {row["seen_top1"]:.1f} | '
                     f'{row["heldout_top1"]:.1f} | '
                     f'{row["heldout_among_heldout_top1"]:.1f} | '
                     f'{row["train_s"]:.0f} | {row["test_s"]:.0f} |')
    chance = 100.0 / len(meta['classes'])
    lines += [
        '', f'Chance: {chance:.1f} % over all names, '
        f'{100.0 / len(meta["held_out"]):.1f} % among the held-out '
        'names. The stock classifier has no way to score a name it '
        'was not trained on (its held-out columns are untrained).', '',
        f'Command: `{args.command}`'
    ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/demo/brain_patches')
    parser.add_argument('--cache-dir', default='data/demo/.cache')
    parser.add_argument('--work-dir', default='work_dirs/image_level_demo')
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--train-per-class', type=int, default=48)
    parser.add_argument('--test-per-class', type=int, default=12)
    parser.add_argument('--models',
                        nargs='+',
                        default=list(MODELS),
                        choices=MODELS)
    args = parser.parse_args(argv)
    args.command = os.environ.get('MMVLM_DEMO_COMMAND', 'python -m '
                                  'mmvlm_demo.image_level')
    import torch
    import mmvlm  # noqa: F401  registers the models into mmpretrain
    meta = prepare_patches(args.data_root, args.cache_dir,
                           args.train_per_class, args.test_per_class)
    print(f'[image_level_demo] {meta["num_train"]} train / '
          f'{meta["num_test"]} test patches in {args.data_root}')
    os.makedirs(args.work_dir, exist_ok=True)
    rows = []
    for kind in args.models:
        torch.manual_seed(0)
        start = time.time()
        print(f'[image_level_demo] training {kind} ({args.iters} iters)')
        model = train(kind, meta, args.data_root, args.work_dir, args.iters,
                      args.batch_size, args.lr)
        train_s = time.time() - start
        start = time.time()
        scores, labels = class_scores(model, kind, args.data_root,
                                      meta['classes'])
        row = dict(model=kind,
                   train_s=train_s,
                   test_s=time.time() - start,
                   **evaluate(scores, labels, meta['held_out'],
                              len(meta['classes'])))
        if kind == 'frozen-generative':
            row['generated'] = describe(model, args.data_root, meta)
        print(f'[image_level_demo] {json.dumps(row)}')
        rows.append(row)
        with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
            json.dump(dict(meta=meta,
                           rows=rows,
                           iters=args.iters,
                           batch_size=args.batch_size),
                      f,
                      indent=1)
        write_report(osp.join(args.work_dir, 'report.md'), meta, rows, args)
    print(f'[image_level_demo] report: {args.work_dir}/report.md')


if __name__ == '__main__':
    main()
