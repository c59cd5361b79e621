"""The results table runs nothing from a work dir.

A work dir may come from someone else: a pickle-payload checkpoint and a
dumped config with code in it must not run (each would create a marker
file), while the metrics, the literal config values and the parameter
count of a real mmengine checkpoint are still read.
"""
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmvlm.evaluation.results_table import (count_parameters, gather_results,
                                            read_config_literals)


class _Payload:
    """Unpickling this runs ``os.system`` (what an attacker's file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _work_dir(root: Path, config: str) -> Path:
    work_dir = root / 'run'
    (work_dir / '20260101_000000').mkdir(parents=True)
    (work_dir / 'run.py').write_text(config)
    (work_dir / '20260101_000000' / '20260101_000000.json').write_text(
        json.dumps({'coco/bbox_mAP': 0.25, 'time': 0.5}))
    return work_dir


def test_payload_checkpoint_and_config_do_not_run(tmp_path):
    marker_ckpt = tmp_path / 'ran_from_checkpoint'
    marker_cfg = tmp_path / 'ran_from_config'
    work_dir = _work_dir(
        tmp_path, f'import os\nos.system("touch {marker_cfg}")\n'
        f'x = __import__("os").system("touch {marker_cfg}")\n'
        'model = dict(type=\'LanguageGuidedDetector\', '
        'vocabulary=[\'tree\', \'car\'])\n'
        'test_dataloader = dict(batch_size=4)\n')
    # a torch-format checkpoint whose pickle calls os.system
    torch.save(dict(state_dict=dict(w=torch.zeros(3)),
                    meta=_Payload(marker_ckpt)), work_dir / 'iter_1.pth')
    # and a plain pickle named .pth
    with open(work_dir / 'iter_2.pth', 'wb') as f:
        pickle.dump(_Payload(marker_ckpt), f)
    os.utime(work_dir / 'iter_1.pth', (1, 1))  # iter_2.pth is the newest

    with pytest.warns(UserWarning, match='iter_2.pth: not loaded') as warned:
        rows = gather_results([str(work_dir)])
    assert any('weights_only=True' in str(w.message) and 'iter_2.pth' in
               str(w.message) for w in warned)
    assert not marker_ckpt.exists() and not marker_cfg.exists()
    assert rows == [{'model': 'run', 'vocabulary': '2 prompts',
                     'bbox mAP': '25.0', 'images/s': '8.0'}]

    (work_dir / 'iter_2.pth').unlink()
    with pytest.warns(UserWarning, match='iter_1.pth: not loaded'):
        assert count_parameters(str(work_dir)) is None
    assert not marker_ckpt.exists()
    # the payload is live: the old weights_only=False load ran it
    torch.load(work_dir / 'iter_1.pth', weights_only=False)
    assert marker_ckpt.exists()


def test_config_literals_are_read_without_running_the_file(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(
        "model = dict(type='X', neck=dict(dims=[1, 2, -3]), flag=True,\n"
        "             vocabulary={'a': (1.5, None)})\n"
        "work_dir = open('/etc/hostname').read()\n"
        "bad = (lambda: 1)()\n"
        "import os\n")
    cfg = read_config_literals(str(path))
    assert cfg.to_dict() == dict(model=dict(
        type='X', neck=dict(dims=[1, 2, -3]), flag=True,
        vocabulary={'a': (1.5, None)}))
    path.write_text('this is not python (\n')
    assert read_config_literals(str(path)).to_dict() == {}


class _Data(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=torch.randn(4))


class _Model(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, inputs, mode='loss'):
        return dict(loss=self.linear(inputs).mean())


def test_real_mmengine_checkpoint_is_counted_with_weights_only(tmp_path):
    """mmengine checkpoints carry the message hub's HistoryBuffers and numpy
    values: the allow-list lets ``weights_only`` read them."""
    runner = Runner(
        model=_Model(), work_dir=str(tmp_path), experiment_name='count',
        train_dataloader=dict(
            dataset=_Data(), sampler=dict(type='InfiniteSampler'),
            batch_size=2, num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.1)),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', by_epoch=False, interval=2)),
        log_level='WARNING')
    runner.train()
    assert (tmp_path / 'iter_2.pth').is_file()
    assert count_parameters(str(tmp_path)) == 4 * 3 + 3
