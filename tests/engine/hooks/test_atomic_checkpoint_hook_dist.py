"""AtomicCheckpointHook under data-parallel training (2 gloo ranks,
torchrun): every rank agrees on the temporary name, rank 0 writes and
renames, no rank waits for another, ``max_keep_ckpts`` holds."""
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent('''
    import sys

    import torch
    import torch.nn as nn
    from mmengine.config import Config
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    import mmvlm.engine.hooks  # noqa: F401  registers the hook
    from mmvlm.utils.launch import init_distributed, shutdown_distributed

    class Data(Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return dict(inputs=torch.randn(4))

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, inputs, mode='loss'):
            return dict(loss_reg=self.linear(inputs).pow(2).mean())

    cfg = Config(dict(launcher='pytorch', env_cfg=dict(
        dist_cfg=dict(backend='gloo', timeout=60))))
    assert init_distributed(cfg)
    runner = Runner(
        model=Model(), work_dir=sys.argv[1], launcher='pytorch',
        default_scope='mmdet',
        cfg=dict(model_wrapper_cfg=cfg.model_wrapper_cfg),
        train_dataloader=dict(
            dataset=Data(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=1, num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(
            type='AtomicCheckpointHook', by_epoch=False, interval=1,
            max_keep_ckpts=2)),
        log_level='WARNING')
    runner.train()
    shutdown_distributed(exit_process=True)
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_save_atomically(tmp_path):
    script = tmp_path / 'train_toy.py'
    script.write_text(SCRIPT)
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        str(script), str(work)
    ], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    names = sorted(n for n in os.listdir(work) if 'pth' in n)
    assert names == ['iter_3.pth', 'iter_4.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')
