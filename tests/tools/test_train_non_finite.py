"""Issue 15: a diverging run stops with a clear message and keeps the last
finite checkpoint.

The issue's command (demo language-guided ATSS, ``lr=1e6`` after a 1e-9
warm-up, a checkpoint every iteration, ``max_keep_ckpts=1``) used to exit 0
with ``loss: nan`` and leave only a NaN checkpoint. Here it runs through our
``tools/train.py`` on the demo config, shrunk for CPU (a tiny random text
encoder, ResNet-18 with 8 base channels, a synthetic tree data set), and the
``FiniteCheckHook`` the demo config inherits must stop it.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / 'projects' / 'demo' / 'configs' / \
    'lg-atss_r18-tiny_minilm_trees.py'


def write_tree_tiles(root: Path, num_images: int = 4, size: int = 64):
    """Green discs on brown ground in the demo's COCO layout."""
    import cv2
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    images, annotations = [], []
    for img_id in range(1, num_images + 1):
        img = np.full((size, size, 3), (60, 90, 110), np.uint8)  # BGR
        for _ in range(2):
            r = int(rng.integers(6, 12))
            cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
            cv2.circle(img, (cx, cy), r, (40, 180, 40), -1)
            annotations.append(
                dict(id=len(annotations) + 1, image_id=img_id,
                     category_id=1, bbox=[cx - r, cy - r, 2 * r, 2 * r],
                     area=4 * r * r, iscrowd=0))
        name = f'tile_{img_id}.png'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
    ann = dict(images=images, annotations=annotations,
               categories=[dict(id=1, name='tree')])
    for split in ('train', 'test'):
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(ann))


def tiny_demo_config(tmp_path: Path) -> Path:
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16,
                                         prefix_length=4)
    lines = [
        f'_base_ = {str(DEMO_CONFIG)!r}',
        'model = dict(',
        '    backbone=dict(base_channels=8),',
        '    neck=dict(',
        f'        text_encoder=dict(_delete_=True, **{text_encoder!r}),',
        '        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),',
        '    bbox_head=dict(embed_dims=16, in_channels=16, feat_channels=16,',
        '                   stacked_convs=1,',
        "                   norm_cfg=dict(type='GN', num_groups=4,",
        '                                 requires_grad=True)))',
        'train_dataloader = dict(batch_size=2, num_workers=0,',
        '                        persistent_workers=False)',
        'val_dataloader = dict(num_workers=0, persistent_workers=False)',
        'test_dataloader = val_dataloader',
        'default_hooks = dict(logger=dict(interval=1))',
    ]
    path = tmp_path / 'tiny_lg-atss_trees.py'
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.mark.slow
def test_nan_run_stops_and_keeps_the_finite_checkpoint(tmp_path):
    write_tree_tiles(tmp_path / 'data' / 'trees')
    config = tiny_demo_config(tmp_path)
    work_dir = tmp_path / 'nan_probe'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
               MMVLM_DEMO_DATA=str(tmp_path / 'data'))
    proc = subprocess.run([
        sys.executable,
        str(ROOT / 'tools' / 'train.py'),
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', 'optim_wrapper.optimizer.lr=1e6',
        'param_scheduler.0.start_factor=1e-9', 'train_cfg.max_iters=4',
        'train_cfg.val_interval=1000', 'default_hooks.checkpoint.interval=1'
    ], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, f'the NaN run exited 0:\n{log[-3000:]}'
    assert 'NonFiniteTrainingError' in log, log[-3000:]
    assert 'Non-finite' in log and 'lower the learning rate' in log
    assert 'Iter(train) [1/4]' in log  # iteration 1 was finite
    ckpts = sorted(work_dir.glob('iter_*.pth'))
    assert len(ckpts) == 1, ckpts  # max_keep_ckpts=1
    stopped_at = int(log.split('Non-finite ')[1].split('iteration ')[1]
                     .split()[0].rstrip(':'))
    assert int(ckpts[0].stem.split('_')[1]) < stopped_at
    state = torch.load(ckpts[0], map_location='cpu',
                       weights_only=False)['state_dict']
    bad = [k for k, v in state.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    assert not bad, f'{ckpts[0].name} holds non-finite tensors: {bad}'
