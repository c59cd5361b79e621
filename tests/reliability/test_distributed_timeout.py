"""Distributed runs have a bounded process-group timeout: a rank that stops
ends the job instead of hanging it for torch's 30 minutes.

- ``load_config`` (``tools/train.py``, ``tools/test.py``) gives every
  distributed run ``env_cfg.dist_cfg.timeout=DIST_TIMEOUT_S`` unless the
  config sets one, and refuses a nonsensical one;
- 2 gloo ranks under torchrun (as ``tools/dist_train.sh`` starts them), the
  timeout set to 20 s: rank 1 stops itself (SIGSTOP, as a frozen or
  swapped-out process) at iteration 2; rank 0 waits in the gradient
  all-reduce, fails after 20 s, and torchrun ends the job.
"""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mmvlm.utils.launch import DIST_TIMEOUT_S, load_config

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import os
    import signal
    import sys

    import torch
    import torch.nn as nn
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    from mmvlm.utils.launch import default_dist_timeout, init_distributed

    class Data(Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            return dict(inputs=torch.randn(4))

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, inputs, mode='loss'):
            return dict(loss_reg=self.linear(inputs).pow(2).mean())

    class StopRank1(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == 2 and os.environ['RANK'] == '1':
                print('rank 1 stops', flush=True)
                os.kill(os.getpid(), signal.SIGSTOP)

    cfg = Config(dict(launcher='pytorch', env_cfg=dict(
        dist_cfg=dict(backend='gloo', timeout=int(sys.argv[1])))))
    default_dist_timeout(cfg)
    assert init_distributed(cfg)
    runner = Runner(
        model=Model(), work_dir=sys.argv[2], launcher='pytorch',
        cfg=dict(model_wrapper_cfg=cfg.model_wrapper_cfg),
        train_dataloader=dict(
            dataset=Data(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=1, num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=1000),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[StopRank1()], log_level='WARNING')
    runner.train()
    print('training finished', flush=True)
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _config(tmp_path: Path, text: str = '') -> str:
    path = tmp_path / 'cfg.py'
    path.write_text("default_scope = 'mmdet'\nmodel = dict(type='ATSS')\n" +
                    text)
    return str(path)


def test_distributed_runs_get_the_default_timeout(tmp_path):
    assert 0 < DIST_TIMEOUT_S <= 600
    cfg = load_config(_config(tmp_path), launcher='pytorch')
    assert cfg.env_cfg.dist_cfg.timeout == DIST_TIMEOUT_S
    cfg = load_config(
        _config(tmp_path, "env_cfg = dict(dist_cfg=dict(backend='gloo'))\n"),
        launcher='pytorch')
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo',
                                        timeout=DIST_TIMEOUT_S)
    # a config's own timeout wins; one process needs none
    cfg = load_config(_config(tmp_path), {'env_cfg.dist_cfg.timeout': 20},
                      launcher='pytorch')
    assert cfg.env_cfg.dist_cfg.timeout == 20
    cfg = load_config(_config(tmp_path), launcher='none')
    assert 'timeout' not in cfg.env_cfg.dist_cfg


@pytest.mark.parametrize('bad', [0, -5, 'soon', True])
def test_a_bad_timeout_is_named(tmp_path, bad):
    with pytest.raises(ValueError,
                       match=f'env_cfg.dist_cfg.timeout={bad!r} must be a '
                       'positive number of seconds'):
        load_config(_config(tmp_path), {'env_cfg.dist_cfg.timeout': bad},
                    launcher='pytorch')


def test_shipped_runtime_bases_set_the_timeout():
    from mmengine.config import Config
    for base in ('demo_runtime_det.py', 'demo_runtime_seg.py'):
        cfg = Config.fromfile(
            str(ROOT / 'projects/demo/configs/_base_' / base))
        assert cfg.env_cfg.dist_cfg.timeout == DIST_TIMEOUT_S, base
        assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'


@pytest.mark.slow
def test_a_stopped_rank_ends_the_job_within_the_timeout(tmp_path):
    timeout = 20
    script = tmp_path / 'train_toy.py'
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    start = time.monotonic()
    proc = subprocess.Popen([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        str(script), str(timeout), str(tmp_path / 'work')
    ], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout + 200)
    finally:  # never leave a stopped rank behind
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, output[-3000:]
    assert 'rank 1 stops' in output
    assert 'training finished' not in output
    # rank 0's collective gave up after the timeout (gloo: 'Timed out
    # waiting 20000ms'), not after torch's default of 30 minutes
    assert f'{timeout * 1000}ms' in output or 'timed out' in output.lower(), \
        output[-3000:]
    # startup + the timeout + torchrun's 30 s grace before it SIGKILLs the
    # stopped rank (a stopped process does not act on SIGTERM)
    assert elapsed < timeout + 30 + 90, (elapsed, output[-3000:])
    print(f'stopped rank: job ended after {elapsed:.0f} s, exit '
          f'{proc.returncode}')
