"""``tools/test.py CONFIG CKPT --prompts ...``: per-prompt metrics of a tiny
language-guided segmentor on a tiny generated split, printed as a table
and written to ``<work-dir>/prompts.json`` (bad prompts: the unit tests
of mmvlm.evaluation.prompt_mapping)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg

ROOT = Path(__file__).resolve().parents[2]


def demo_config(task: str, kind: str) -> str:
    """The demo's config of a task and kind (projects/demo/configs)."""
    from projects.demo.mmvlm_demo.demo_models import DEMO_MODELS
    rel = next(m['config'] for m in DEMO_MODELS
               if m['task'] == task and m['kind'] == kind)
    return str(ROOT / rel)

SEG_CLASSES = ('background', 'left region', 'right region')
TEXT = dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64))


def write_seg_split(root: Path) -> Path:
    """One 48x40 slice: a left and a right square."""
    for sub in ('img_dir/test', 'ann_dir/test'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    img = np.full((48, 40, 3), 30, np.uint8)
    ann = np.zeros((48, 40), np.uint8)
    img[10:30, 4:16], ann[10:30, 4:16] = 200, 1
    img[10:30, 24:36], ann[10:30, 24:36] = 120, 2
    cv2.imwrite(str(root / 'img_dir/test/s0.png'), img)
    cv2.imwrite(str(root / 'ann_dir/test/s0.png'), ann)
    return root


def test_test_py_prompts_prints_and_saves_one_row_per_prompt(tmp_path):
    pytest.importorskip('mmseg')
    from mmengine.runner import save_checkpoint

    from mmvlm.apis import init_language_guided_segmentor
    data = write_seg_split(tmp_path / 'brain')
    config = tmp_path / 'tiny_lg_brain.py'
    config.write_text('\n'.join([
        f'_base_ = {demo_config("brain", "lg-frozen")!r}',
        f'model = dict(neck=dict(text_encoder={TEXT!r}),',
        '    data_preprocessor=dict(size=(64, 64)))',
        'test_dataloader = dict(num_workers=0, persistent_workers=False,',
        f'    dataset=dict(data_root={str(data)!r},',
        "        data_prefix=dict(img_path='img_dir/test',",
        "                         seg_map_path='ann_dir/test'),",
        '        metainfo=dict(',
        f'        classes={SEG_CLASSES!r}, palette=[(0, 0, 0)] * 3)))',
    ]) + '\n')
    torch.manual_seed(0)
    model = init_language_guided_segmentor(str(config))
    ckpt = tmp_path / 'tiny.pth'
    save_checkpoint(model.state_dict(), str(ckpt))
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1')
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'test.py'), str(config),
         str(ckpt), '--work-dir', str(tmp_path / 'work'), '--prompts',
         'background. car=left region. right region', '--prompt-mode',
         'replace'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'Per-prompt evaluation (replace):' in out
    assert '| prompt | class | IoU | Dice | predicted |' in out
    assert '| car | left region |' in out
    rows = json.loads((tmp_path / 'work' / 'prompts.json').read_text())
    assert [r['prompt'] for r in rows] == ['background', 'car',
                                           'right region']
    assert rows[1]['vocabulary'] == ['background', 'car', 'right region']

