"""FiniteCheckHook under data-parallel training (2 gloo ranks, torchrun).

Only rank 0 sees a NaN loss at iteration 2, and the NaN is a constant with
no gradient path, so the gradients stay finite everywhere: rank 1 can only
know from the loss flag the hook reduces over the ranks. Both ranks must
take the same decision (skip, or stop without a deadlock) and keep
identical, finite weights.
"""
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent('''
    import json
    import os
    import sys

    import torch
    import torch.nn as nn
    from mmengine.config import Config
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    from mmvlm.engine import FiniteCheckHook, NonFiniteTrainingError
    from mmvlm.utils.launch import init_distributed, shutdown_distributed

    action, out_dir = sys.argv[1], sys.argv[2]

    class Data(Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            gen = torch.Generator().manual_seed(i)
            # rank r gets items r, r + 2, ...: item 2 is rank 0, iteration 2
            return dict(inputs=torch.randn(4, generator=gen),
                        bad=torch.tensor(float(i == 2)))

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, inputs, bad, mode='loss'):
            loss = self.linear(inputs).pow(2).mean()
            if bool(bad.any()):  # NaN loss, finite gradients
                loss = loss + torch.tensor(float('nan'))
            return dict(loss_reg=loss)

    cfg = Config(dict(launcher='pytorch',
                      env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    assert init_distributed(cfg)
    torch.manual_seed(0)
    hook = FiniteCheckHook(action=action)
    runner = Runner(
        model=Model(), work_dir=out_dir, launcher='pytorch',
        cfg=dict(model_wrapper_cfg=cfg.model_wrapper_cfg),
        train_dataloader=dict(
            dataset=Data(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=1, num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[hook], log_level='WARNING')
    stopped = None
    try:
        runner.train()
    except NonFiniteTrainingError as error:
        stopped = str(error)
    rank = int(os.environ['RANK'])
    weights = runner.model.module.linear.weight.detach().tolist()
    with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(dict(skipped=hook.num_skipped, stopped=stopped,
                       iter=runner.iter, weights=weights), f)
    # as our launchers end: barrier, destroy, then exit without the
    # interpreter teardown in which a gloo rank may abort ('terminate
    # called without an active exception')
    shutdown_distributed(exit_process=True)
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize('action', ['skip', 'stop'])
def test_ranks_take_the_same_decision(tmp_path, action):
    import json
    import math
    script = tmp_path / 'train_toy.py'
    script.write_text(SCRIPT)
    out = tmp_path / 'out'
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        str(script), action, str(out)
    ], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    ranks = [json.loads((out / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert ranks[0]['weights'] == ranks[1]['weights']
    assert all(math.isfinite(v) for row in ranks[0]['weights'] for v in row)
    if action == 'skip':
        assert [r['skipped'] for r in ranks] == [1, 1]
        assert [r['stopped'] for r in ranks] == [None, None]
    else:
        for rank in ranks:
            assert 'iteration 2' in rank['stopped']
        # rank 1's own loss was finite: it learned it from the reduced flag
        assert 'a non-finite loss on another rank' in ranks[1]['stopped']
