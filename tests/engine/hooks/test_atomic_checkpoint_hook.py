"""AtomicCheckpointHook: a checkpoint is complete before the old one goes,
a failed write names its path and keeps the previous checkpoint, and the
``--resume`` lookup skips empty, dangling and truncated records.

A toy mmengine model runs in a real mmengine Runner with
``AtomicCheckpointHook(interval=1, max_keep_ckpts=1)``.
"""
import itertools
import os
import os.path as osp
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.fileio.backends import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmvlm.engine.hooks import (AtomicCheckpointHook, CheckpointWriteError,
                                find_resumable_checkpoint)
from mmvlm.engine.hooks.atomic_checkpoint_hook import is_complete_checkpoint
from mmvlm.utils.launch import use_atomic_checkpoints


class _ToyData(Dataset):

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict:
        gen = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(4, generator=gen))


class _ToyModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, inputs, mode='loss'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss_reg=out.pow(2).mean())
        return [dict(score=float(out.sum()))]


class _IterMetric(BaseMetric):
    """A validation score that improves at every validation."""

    def __init__(self) -> None:
        super().__init__(prefix='toy')
        self.calls = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(1)

    def compute_metrics(self, results) -> dict:
        self.calls += 1
        return dict(score=float(self.calls))


_RUNS = itertools.count()


def _runner(work_dir: Path, max_iters: int = 3, val: bool = False,
            **hook_kwargs) -> Runner:
    torch.manual_seed(0)
    loader = dict(
        dataset=_ToyData(),
        sampler=dict(type='InfiniteSampler', shuffle=False),
        batch_size=2, num_workers=0,
        collate_fn=dict(type='default_collate'))
    extra = {}
    if val:
        extra = dict(
            val_dataloader=dict(loader, sampler=dict(
                type='DefaultSampler', shuffle=False)),
            val_cfg=dict(), val_evaluator=Evaluator(_IterMetric()))
    hook = dict(type='AtomicCheckpointHook', by_epoch=False, interval=1,
                max_keep_ckpts=1)
    hook.update(hook_kwargs)
    return Runner(
        model=_ToyModel(), work_dir=str(work_dir),
        experiment_name=f'atomic-{work_dir.name}-{next(_RUNS)}',
        default_scope='mmdet',
        train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=hook),
        log_level='WARNING', **extra)


def _files(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_registered_in_mmdet_and_mmseg_and_used_for_checkpoint_hook():
    from mmdet.registry import HOOKS as DET_HOOKS
    from mmseg.registry import HOOKS as SEG_HOOKS
    assert DET_HOOKS.get('AtomicCheckpointHook') is AtomicCheckpointHook
    assert SEG_HOOKS.get('AtomicCheckpointHook') is AtomicCheckpointHook
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(
        type='CheckpointHook', interval=5, max_keep_ckpts=1))))
    assert use_atomic_checkpoints(cfg)
    assert cfg.default_hooks.checkpoint == dict(
        type='AtomicCheckpointHook', interval=5, max_keep_ckpts=1)
    assert not use_atomic_checkpoints(Config(dict(default_hooks=dict(
        checkpoint=dict(type='MyHook')))))


def test_new_checkpoint_is_complete_before_the_old_one_is_removed(
        tmp_path, monkeypatch):
    removals = []
    real_remove = os.remove

    def spy(path, *args, **kwargs):
        if str(path).endswith('.pth'):
            folder = osp.dirname(str(path))
            complete = sorted(
                n for n in os.listdir(folder)
                if n.endswith('.pth') and not n.startswith('.') and
                is_complete_checkpoint(osp.join(folder, n)))
            with open(osp.join(folder, 'last_checkpoint')) as f:
                removals.append((osp.basename(str(path)), complete,
                                 f.read()))
        return real_remove(path, *args, **kwargs)

    monkeypatch.setattr(os, 'remove', spy)
    _runner(tmp_path).train()
    # iter_1 is removed once iter_2 is whole and last_checkpoint names it
    assert removals == [
        ('iter_1.pth', ['iter_1.pth', 'iter_2.pth'],
         str(tmp_path / 'iter_2.pth')),
        ('iter_2.pth', ['iter_2.pth', 'iter_3.pth'],
         str(tmp_path / 'iter_3.pth')),
    ]
    assert [n for n in _files(tmp_path) if n.endswith('.pth')] == [
        'iter_3.pth'
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                             'iter_3.pth')
    assert not [n for n in os.listdir(tmp_path) if '.tmp-' in n]
    ckpt = torch.load(tmp_path / 'iter_3.pth', weights_only=False)
    assert ckpt['meta']['iter'] == 3
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [3]


def test_full_disk_names_the_path_and_keeps_the_previous_checkpoint(
        tmp_path, monkeypatch):
    real_put = LocalBackend.put
    writes = []

    def put(self, obj, filepath):
        writes.append(str(filepath))
        if len(writes) == 3:  # the third checkpoint: half written, then full
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise OSError(28, 'No space left on device')
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put)
    runner = _runner(tmp_path, max_iters=4)
    with pytest.raises(CheckpointWriteError) as info:
        runner.train()
    error = info.value
    assert error.errno == 28
    message = str(error)
    assert str(tmp_path / 'iter_3.pth') in message
    assert 'No space left on device' in message
    assert f'the previous checkpoint {tmp_path / "iter_2.pth"} is kept' \
        in message
    assert 'Free space in' in message and '--resume' in message
    # written to a hidden temporary file in the same folder
    assert osp.basename(writes[2]).startswith('.iter_3.pth.tmp-')
    assert osp.dirname(writes[2]) == str(tmp_path)
    assert [n for n in _files(tmp_path) if 'pth' in n] == ['iter_2.pth']
    assert is_complete_checkpoint(str(tmp_path / 'iter_2.pth'))
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                             'iter_2.pth')
    assert find_resumable_checkpoint(str(tmp_path)).path == str(
        tmp_path / 'iter_2.pth')


def test_resume_continues_from_the_kept_checkpoint(tmp_path):
    _runner(tmp_path, max_iters=2).train()
    runner = _runner(tmp_path, max_iters=4)
    runner._resume = True
    runner._load_from = find_resumable_checkpoint(str(tmp_path)).path
    runner.train()
    assert runner.iter == 4
    assert [n for n in _files(tmp_path) if n.endswith('.pth')] == [
        'iter_4.pth'
    ]


def test_unfinished_temporary_files_of_a_killed_run_are_removed(tmp_path):
    stale = tmp_path / '.iter_7.pth.tmp-99999999'
    stale.write_bytes(b'PK\x03\x04 half a checkpoint')
    _runner(tmp_path, max_iters=1).train()
    assert not stale.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith('.')] == []
    assert (tmp_path / 'iter_1.pth').is_file()


def test_best_checkpoint_replaced_only_after_the_new_one_is_written(
        tmp_path, monkeypatch):
    removed = []
    real_remove = os.remove

    def spy(path, *args, **kwargs):
        name = osp.basename(str(path))
        if name.startswith('best_'):
            removed.append((name, sorted(
                n for n in os.listdir(tmp_path) if n.startswith('best_'))))
        return real_remove(path, *args, **kwargs)

    monkeypatch.setattr(os, 'remove', spy)
    _runner(tmp_path, max_iters=3, val=True, save_best='toy/score',
            rule='greater').train()
    assert removed == [
        ('best_toy_score_iter_1.pth',
         ['best_toy_score_iter_1.pth', 'best_toy_score_iter_2.pth']),
        ('best_toy_score_iter_2.pth',
         ['best_toy_score_iter_2.pth', 'best_toy_score_iter_3.pth']),
    ]
    assert [n for n in _files(tmp_path) if n.endswith('.pth')] == [
        'best_toy_score_iter_3.pth', 'iter_3.pth'
    ]
    assert not [n for n in os.listdir(tmp_path) if '.tmp-' in n]


def _checkpoint(path: Path, step: int) -> None:
    torch.save(dict(meta=dict(iter=step), state_dict=dict(
        w=torch.full((64, ), float(step)))), path)


def test_resume_lookup_falls_back_to_the_newest_complete_checkpoint(
        tmp_path):
    for step in (2, 4, 6):
        _checkpoint(tmp_path / f'iter_{step}.pth', step)
    record = tmp_path / 'last_checkpoint'

    # missing record
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path == str(tmp_path / 'iter_6.pth') and choice.fell_back
    assert f'there is no {record}' in choice.reason

    # a good record is used as it is
    record.write_text(str(tmp_path / 'iter_4.pth'))
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path == str(tmp_path / 'iter_4.pth')
    assert not choice.fell_back

    # the cases: an empty record (kill between open and write) ...
    record.write_text('')
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path == str(tmp_path / 'iter_6.pth') and choice.fell_back
    assert f'{record} is empty' in choice.reason
    assert 'resuming from the newest complete checkpoint' in choice.reason

    # ... a 0-byte newest checkpoint and a record naming a deleted one
    (tmp_path / 'iter_8.pth').write_bytes(b'')
    data = (tmp_path / 'iter_6.pth').read_bytes()
    (tmp_path / 'iter_7.pth').write_bytes(data[:len(data) - 10])
    record.write_text(str(tmp_path / 'iter_1.pth'))
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path == str(tmp_path / 'iter_6.pth')
    assert 'which does not exist' in choice.reason
    assert 'skipped incomplete' in choice.reason
    assert 'iter_8.pth' in choice.reason and 'iter_7.pth' in choice.reason

    # a record naming a truncated file
    record.write_text(str(tmp_path / 'iter_7.pth'))
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path == str(tmp_path / 'iter_6.pth')
    assert 'incomplete (truncated)' in choice.reason

    # nothing usable at all
    for step in (2, 4, 6):
        (tmp_path / f'iter_{step}.pth').unlink()
    choice = find_resumable_checkpoint(str(tmp_path))
    assert choice.path is None
    assert 'training starts from the beginning' in choice.reason


def test_exported_by_mmvlm_engine():
    """``from mmvlm.engine import AtomicCheckpointHook``, like the other
    hooks of mmvlm."""
    import mmvlm.engine
    assert mmvlm.engine.AtomicCheckpointHook is AtomicCheckpointHook
    assert mmvlm.engine.CheckpointWriteError is CheckpointWriteError
    assert {'AtomicCheckpointHook',
            'CheckpointWriteError'} <= set(mmvlm.engine.__all__)
