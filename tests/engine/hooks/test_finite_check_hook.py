"""FiniteCheckHook: a non-finite step is never applied, never checkpointed.

A toy mmengine model (linear layer + BatchNorm) whose loss turns NaN (or
whose gradients turn NaN with a finite loss) at a chosen iteration runs in a
real mmengine Runner with CheckpointHook(interval=1, max_keep_ckpts=1).
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


class _ToyData(Dataset):
    """With batches of 2, items of iteration ``i // 2 + 1`` in ``bad_iters``
    are non-finite (``bad=1``)."""

    def __init__(self, bad_iters=(), length: int = 16) -> None:
        self.bad_iters = set(bad_iters)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        gen = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=gen),
                    bad=torch.tensor(float(i // 2 + 1 in self.bad_iters)))


class _ToyModel(BaseModel):
    """Regression; ``kind='loss'`` makes a NaN loss, ``'grad'`` NaN grads."""

    def __init__(self, kind: str = 'loss') -> None:
        super().__init__()
        self.kind = kind
        self.linear = nn.Linear(4, 2)
        self.norm = nn.BatchNorm1d(2)

    def forward(self, inputs, bad, mode='loss'):
        out = self.norm(self.linear(inputs))
        loss = out.pow(2).mean()
        if bool(bad.any()):
            if self.kind == 'loss':
                out = out * float('nan')
                loss = out.pow(2).mean()
            else:  # finite loss, NaN gradient: d sqrt(x)/dx at 0 is inf
                zero = self.linear.weight.sum() - self.linear.weight.sum()
                loss = loss + 0.0 * torch.sqrt(zero)
        return dict(loss_reg=loss)


class _Snapshots(Hook):
    """Weights / optimizer state / buffers after every iteration."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.states = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.states.append(
            dict(model=copy.deepcopy(runner.model.state_dict()),
                 optim=copy.deepcopy(runner.optim_wrapper.state_dict())))


def _runner(tmp_path: Path, bad_iters=(), kind='loss', max_iters=4,
            **hook_kwargs) -> Runner:
    torch.manual_seed(0)
    return Runner(
        model=_ToyModel(kind),
        work_dir=str(tmp_path),
        experiment_name=f'toy-{kind}-{hook_kwargs.get("action", "stop")}',
        default_scope='mmdet',
        train_dataloader=dict(
            dataset=_ToyData(bad_iters),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.1)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=1, max_keep_ckpts=1)),
        custom_hooks=[dict(type='FiniteCheckHook', **hook_kwargs)],
        randomness=dict(seed=0),
        log_level='WARNING')


def _all_finite(state: dict) -> bool:
    return all(
        bool(torch.isfinite(v).all()) for v in state.values()
        if isinstance(v, torch.Tensor) and v.is_floating_point())


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_registered_in_mmdet_and_mmseg():
    from mmdet.registry import HOOKS as DET_HOOKS
    from mmseg.registry import HOOKS as SEG_HOOKS
    assert DET_HOOKS.get('FiniteCheckHook') is FiniteCheckHook
    assert SEG_HOOKS.get('FiniteCheckHook') is FiniteCheckHook


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="action='ignore'"):
        FiniteCheckHook(action='ignore')
    with pytest.raises(ValueError, match='param_check_interval=-1'):
        FiniteCheckHook(param_check_interval=-1)
    with pytest.raises(ValueError, match='max_consecutive_skips=0'):
        FiniteCheckHook(max_consecutive_skips=0)


@pytest.mark.parametrize('kind', ['loss', 'grad'])
def test_stop_keeps_last_finite_weights_and_checkpoint(tmp_path, kind):
    runner = _runner(tmp_path, bad_iters=[3], kind=kind)
    snapshots = _Snapshots()
    runner.register_hook(snapshots)
    with pytest.raises(NonFiniteTrainingError) as info:
        runner.train()
    message = str(info.value)
    assert 'iteration 3' in message
    if kind == 'loss':
        assert 'loss_reg=nan' in message
    else:
        assert 'non-finite gradients of linear.weight' in message
    assert 'lower the learning rate' in message and 'clip_grad' in message
    # The NaN step was not applied: the weights are those of iteration 2.
    assert len(snapshots.states) == 2
    state = runner.model.state_dict()
    params = {k: v for k, v in state.items() if 'norm.running' not in k
              and 'num_batches' not in k}
    assert _equal(params, {k: snapshots.states[-1]['model'][k]
                           for k in params})
    assert _all_finite({k: v for k, v in state.items()
                        if not k.startswith('norm.')})
    # The last finite checkpoint is kept; none was written at iteration 3.
    ckpts = sorted(p.name for p in Path(runner.work_dir).glob('*.pth'))
    assert ckpts == ['iter_2.pth']
    saved = torch.load(Path(runner.work_dir) / 'iter_2.pth',
                       map_location='cpu', weights_only=False)
    assert _all_finite(saved['state_dict'])


@pytest.mark.parametrize('kind', ['loss', 'grad'])
def test_skip_leaves_weights_optimizer_and_buffers_unchanged(tmp_path, kind):
    runner = _runner(tmp_path, bad_iters=[2], kind=kind, action='skip')
    snapshots = _Snapshots()
    runner.register_hook(snapshots)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, FiniteCheckHook))
    assert hook.num_skipped == 1
    before, skipped, after = snapshots.states[0], snapshots.states[1], \
        snapshots.states[2]
    # Iteration 2 changed nothing: weights, BN statistics, Adam moments.
    assert _equal(before['model'], skipped['model'])
    assert _equal(before['optim']['state'][0], skipped['optim']['state'][0])
    assert not _equal(skipped['model'], after['model'])  # 3 trained again
    for state in snapshots.states:
        assert _all_finite(state['model'])
    saved = torch.load(Path(runner.work_dir) / 'iter_4.pth',
                       map_location='cpu', weights_only=False)
    assert _all_finite(saved['state_dict'])
    # The guard is removed when training ends.
    assert 'step' not in runner.optim_wrapper.__dict__


def test_skip_stops_after_too_many_consecutive(tmp_path):
    runner = _runner(tmp_path, bad_iters=[2, 3, 4], action='skip',
                     max_consecutive_skips=2, max_iters=6)
    with pytest.raises(NonFiniteTrainingError, match='2 iterations in a row'):
        runner.train()
    assert sorted(p.name for p in Path(runner.work_dir).glob('*.pth')) == [
        'iter_2.pth'
    ]


def test_never_saves_a_non_finite_checkpoint(tmp_path):
    runner = _runner(tmp_path)
    hook = FiniteCheckHook()
    checkpoint = dict(state_dict=dict(w=torch.tensor([1.0, float('inf')])),
                      optimizer=dict(state={0: dict(exp_avg=torch.ones(1))}))
    with pytest.raises(NonFiniteTrainingError,
                       match=r'refusing to save.*state_dict\.w'):
        hook.before_save_checkpoint(runner, checkpoint)
    checkpoint['state_dict']['w'] = torch.ones(2)
    hook.before_save_checkpoint(runner, checkpoint)  # finite: no error
