"""FiniteCheckHook on a CUDA device, with OptimWrapper and AmpOptimWrapper.

Skipped without a GPU (CI has none). Needs only torch and mmengine (the hook
is passed as an object, no codebase registry is used).
"""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmvlm.engine import FiniteCheckHook, NonFiniteTrainingError

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='needs a CUDA device')


class _Data(Dataset):
    """Batches of 2; items of iteration ``i // 2 + 1`` in ``bad`` are bad."""

    def __init__(self, bad_iters=()) -> None:
        self.bad_iters = set(bad_iters)

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict:
        gen = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=gen),
                    bad=torch.tensor(float(i // 2 + 1 in self.bad_iters)))


class _Model(BaseModel):

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(4, 2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, inputs, bad, mode='loss'):
        out = self.norm(self.linear(inputs))
        loss = out.float().pow(2).mean()
        if bool(bad.any()):
            if self.kind == 'loss':
                loss = loss * float('nan')
            else:  # finite loss, inf / NaN gradient
                zero = self.linear.weight.sum() - self.linear.weight.sum()
                loss = loss + 0.0 * torch.sqrt(zero.float())
        return dict(loss_reg=loss)


class _Snapshots(Hook):
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.states = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.states.append(copy.deepcopy(runner.model.state_dict()))


def _run(tmp_path: Path, wrapper: str, kind: str, action: str,
         bad_iters) -> tuple:
    torch.manual_seed(0)
    hook = FiniteCheckHook(action=action)
    snapshots = _Snapshots()
    runner = Runner(
        model=_Model(kind),
        work_dir=str(tmp_path / f'{wrapper}-{kind}-{action}'),
        train_dataloader=dict(
            dataset=_Data(bad_iters),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2, num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=4),
        optim_wrapper=dict(type=wrapper,
                           optimizer=dict(type='AdamW', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           by_epoch=False, interval=1,
                                           max_keep_ckpts=1)),
        custom_hooks=[hook, snapshots],
        log_level='WARNING')
    return runner, hook, snapshots


@pytest.mark.parametrize('wrapper', ['OptimWrapper', 'AmpOptimWrapper'])
def test_stop_on_cuda(tmp_path, wrapper):
    runner, _, snapshots = _run(tmp_path, wrapper, 'loss', 'stop', [3])
    assert next(runner.model.parameters()).is_cuda
    with pytest.raises(NonFiniteTrainingError, match='iteration 3'):
        runner.train()
    assert len(snapshots.states) == 2
    ckpts = sorted(p.name for p in Path(runner.work_dir).glob('*.pth'))
    assert ckpts == ['iter_2.pth']
    for name, value in runner.model.state_dict().items():
        if name.startswith('linear.'):
            assert torch.equal(value, snapshots.states[-1][name])


@pytest.mark.parametrize('wrapper', ['OptimWrapper', 'AmpOptimWrapper'])
@pytest.mark.parametrize('kind', ['loss', 'grad'])
def test_skip_on_cuda(tmp_path, wrapper, kind):
    """The step of iteration 2 changes nothing. With AmpOptimWrapper a NaN
    gradient is skipped by its GradScaler (the hook sees a finite loss)."""
    runner, hook, snapshots = _run(tmp_path, wrapper, kind, 'skip', [2])
    runner.train()
    expected = 0 if (wrapper == 'AmpOptimWrapper' and kind == 'grad') else 1
    assert hook.num_skipped == expected
    before, skipped = snapshots.states[0], snapshots.states[1]
    for name in ('linear.weight', 'linear.bias', 'norm.weight'):
        assert torch.equal(before[name], skipped[name]), name
    assert not torch.equal(skipped['linear.weight'],
                           snapshots.states[2]['linear.weight'])
    for state in snapshots.states:
        for value in state.values():
            if value.is_floating_point():
                assert bool(torch.isfinite(value).all())
