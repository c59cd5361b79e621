"""Kill -9 during checkpoint saves, then ``tools/train.py --resume``.

A training run of ``tools/train.py`` (its ``main()``: ``load_config``,
which turns the config's ``CheckpointHook`` into ``AtomicCheckpointHook``,
the ``--resume`` lookup, ``build_runner``) checkpoints every iteration with
``max_keep_ckpts=1``; a toy model of 1M parameters plus SGD momentum makes
each checkpoint 8 MB, so that most of the run's time is spent saving. The
run is killed with SIGKILL at a random moment, resumed with ``--resume``,
killed again, 24 times. After every kill the work dir must hold a complete
checkpoint (once one was written), and every resumed run must start from
exactly that checkpoint's iteration.

Starting Python, torch and mmdet 24 times would take minutes on a small
machine, so one "zygote" process imports everything once and forks one
training process per round (the fork sees the same code as a fresh
``python tools/train.py CONFIG --work-dir W --resume``).
"""
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from mmvlm.engine.hooks import find_resumable_checkpoint
from mmvlm.engine.hooks.atomic_checkpoint_hook import is_complete_checkpoint

ROOT = Path(__file__).resolve().parents[2]

ZYGOTE = textwrap.dedent('''
    import os
    import runpy
    import sys

    import torch
    import torch.nn as nn
    from mmdet.registry import DATASETS, HOOKS, MODELS
    from mmengine.hooks import Hook
    from mmengine.model import BaseModel
    from torch.utils.data import Dataset

    import mmvlm  # noqa: F401
    torch.set_num_threads(1)
    train = runpy.run_path(sys.argv[1])  # tools/train.py, not its __main__

    @DATASETS.register_module()
    class KillTestData(Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            gen = torch.Generator().manual_seed(i)
            return dict(inputs=torch.randn(512, generator=gen))

    @MODELS.register_module()
    class KillTestModel(BaseModel):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(*[nn.Linear(512, 512)
                                          for _ in range(4)])

        def forward(self, inputs, mode='loss'):
            return dict(loss_reg=self.layers(inputs).pow(2).mean())

    @HOOKS.register_module()
    class KillTestReport(Hook):
        def before_train(self, runner):
            print(f'KILLTEST started {runner.iter}', flush=True)

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            sys.argv = ['tools/train.py', sys.argv[2], '--work-dir',
                        sys.argv[3], '--resume']
            try:
                train['main']()
            finally:
                os._exit(1)
        print(f'KILLTEST pid {pid}', flush=True)
        _, status = os.waitpid(pid, 0)
        print(f'KILLTEST exit {status}', flush=True)
''')

CONFIG = textwrap.dedent('''
    default_scope = 'mmdet'
    model = dict(type='KillTestModel')
    train_dataloader = dict(
        dataset=dict(type='KillTestData'),
        sampler=dict(type='InfiniteSampler', shuffle=True),
        batch_size=2, num_workers=0,
        collate_fn=dict(type='default_collate'))
    train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000)
    optim_wrapper = dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9))
    default_hooks = dict(
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1,
                        max_keep_ckpts=1))
    custom_hooks = [dict(type='KillTestReport')]
    log_level = 'WARNING'
    randomness = dict(seed=0)
''')


class _Lines:
    """Lines of a pipe, read with a deadline."""

    def __init__(self, stream) -> None:
        self.fd = stream.fileno()
        self.buffer = b''
        self.seen = []

    def until(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            while b'\n' in self.buffer:
                line, self.buffer = self.buffer.split(b'\n', 1)
                text = line.decode(errors='replace')
                self.seen.append(text)
                if text.startswith(prefix):
                    return text[len(prefix):].strip()
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f'no {prefix!r} line within {timeout} s; '
                                   'last lines:\n' +
                                   '\n'.join(self.seen[-30:]))
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError('the zygote ended; last lines:\n' +
                               '\n'.join(self.seen[-30:]))
            self.buffer += chunk


def _saved_iter(path: str) -> int:
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    assert set(checkpoint['state_dict']) == {
        f'layers.{i}.{k}' for i in range(4) for k in ('weight', 'bias')
    }
    return checkpoint['meta']['iter']


def test_random_kills_during_saves_always_leave_a_resumable_checkpoint(
        tmp_path):
    rng = random.Random(0)
    work_dir = tmp_path / 'work'
    config = tmp_path / 'kill_test.py'
    config.write_text(CONFIG)
    zygote_script = tmp_path / 'zygote.py'
    zygote_script.write_text(ZYGOTE)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               PYTHONUNBUFFERED='1')
    zygote = subprocess.Popen(
        [sys.executable, str(zygote_script),
         str(ROOT / 'tools' / 'train.py'), str(config), str(work_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env=env, cwd=tmp_path, bufsize=0)
    lines = _Lines(zygote.stdout)
    kills, mid_save, iters = 24, 0, []
    try:
        for round_no in range(kills):
            choice = find_resumable_checkpoint(str(work_dir))
            expected = 0 if choice.path is None else _saved_iter(choice.path)
            zygote.stdin.write(b'go\n')
            pid = int(lines.until('KILLTEST pid'))
            started = int(lines.until('KILLTEST started', timeout=120))
            # every --resume continues from the complete checkpoint
            assert started == expected, (round_no, choice)
            if round_no > 0:
                assert started > 0, f'round {round_no} started from scratch'
            time.sleep(rng.uniform(0.0, 0.5))
            os.kill(pid, signal.SIGKILL)
            status = lines.until('KILLTEST exit')
            assert os.WIFSIGNALED(int(status)), (
                f'round {round_no}: the training ended by itself\n' +
                '\n'.join(lines.seen[-30:]))
            names = os.listdir(work_dir)
            mid_save += any(f'.tmp-{pid}' in n for n in names)
            after = find_resumable_checkpoint(str(work_dir))
            if started > 0 or any(n.endswith('.pth') for n in names):
                assert after.path is not None, (round_no, names)
                assert is_complete_checkpoint(after.path)
                assert not after.fell_back, after.reason
                iters.append(_saved_iter(after.path))
                assert iters[-1] >= started
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    # the kills hit checkpoint writes, and the run moved on across them
    assert mid_save >= 2, (mid_save, kills)
    assert len(iters) >= kills - 1 and iters[-1] > iters[0], iters
    print(f'{kills} kills, {mid_save} during a checkpoint write, '
          f'iterations reached: {iters}')
