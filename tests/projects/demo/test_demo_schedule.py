"""The demo's CPU schedule (projects/demo/configs/_base_/schedules/
demo_cpu.py) builds for any ``MMVLM_DEMO_ITERS``, one iteration included.

A run of one iteration (a smoke test) used to fail when the runner built
the schedulers: the warm-up took the only iteration, so the cosine phase
began and ended at 1 ('end should be larger than begin').
"""
import os.path as osp

import mmengine.optim  # noqa: F401 (registers the param schedulers)
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')
SCHEDULE = osp.join(CONFIGS, '_base_', 'schedules', 'demo_cpu.py')


def _config(path, iters, monkeypatch):
    monkeypatch.setenv('MMVLM_DEMO_ITERS', str(iters))
    return Config.fromfile(path)


def _build_schedulers(cfg):
    """The optimizer and the param schedulers the runner would build."""
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(),
                                  **{k: v for k, v in
                                     cfg.optim_wrapper.optimizer.items()
                                     if k != 'type'})
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
        for s in cfg.param_scheduler
    ]
    return optimizer, schedulers


@pytest.mark.parametrize('iters', [1, 2, 150])
def test_schedulers_build_and_end_within_the_run(iters, monkeypatch):
    cfg = _config(SCHEDULE, iters, monkeypatch)
    max_iters = cfg.train_cfg.max_iters
    assert max_iters == iters
    assert cfg.train_cfg.val_interval == iters
    optimizer, schedulers = _build_schedulers(cfg)
    assert schedulers
    for scheduler in schedulers:
        assert not scheduler.by_epoch
        assert 0 <= scheduler.begin < scheduler.end <= max_iters
    # the phases follow each other and cover the whole run
    spans = [(s.begin, s.end) for s in schedulers]
    assert spans[0][0] == 0 and spans[-1][1] == max_iters
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    # every iteration trains with a positive learning rate, none above
    # the configured one
    base_lr = cfg.optim_wrapper.optimizer.lr
    for _ in range(max_iters):
        lr = optimizer.param_groups[0]['lr']
        assert 0 < lr <= base_lr * (1 + 1e-6)
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()


def test_schedule_keeps_the_warm_up_of_longer_runs(monkeypatch):
    spans = {
        iters: [(s.type, s.begin, s.end) for s in _config(
            SCHEDULE, iters, monkeypatch).param_scheduler]
        for iters in (1, 2, 3, 150)
    }
    assert spans[1] == [('CosineAnnealingLR', 0, 1)]
    assert spans[2] == [('LinearLR', 0, 1), ('CosineAnnealingLR', 1, 2)]
    assert spans[3] == [('LinearLR', 0, 1), ('CosineAnnealingLR', 1, 3)]
    assert spans[150] == [('LinearLR', 0, 20),
                          ('CosineAnnealingLR', 20, 150)]


def test_demo_config_schedule_builds_for_one_iteration(monkeypatch):
    """A whole demo config (the schedule merged with its other bases)."""
    cfg = _config(
        osp.join(CONFIGS, 'lg-atss_efficientnet-lite0_minilm_trees.py'), 1,
        monkeypatch)
    assert cfg.train_cfg.max_iters == 1
    _, schedulers = _build_schedulers(cfg)
    assert [(s.begin, s.end) for s in schedulers] == [(0, 1)]
    assert not any(k.startswith('_') for k in cfg.keys())


@pytest.mark.parametrize('config, default_iters',
                         [('atss_r18-tiny_trees.py', 300),
                          ('fpn_r18-tiny_brain.py', 200)])
def test_r18_tiny_configs_rescale_the_schedule(config, default_iters,
                                               monkeypatch):
    """The from-scratch ResNet-18 configs run the schedule's phases on
    their own length (default 300 / 200 iterations, warm-up 30)."""
    path = osp.join(CONFIGS, config)
    monkeypatch.delenv('MMVLM_DEMO_ITERS', raising=False)
    cfg = Config.fromfile(path)
    assert cfg.train_cfg.max_iters == default_iters
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('LinearLR', 0, 30), ('CosineAnnealingLR', 30, default_iters)
    ]
    cfg = _config(path, 1, monkeypatch)
    _, schedulers = _build_schedulers(cfg)
    assert [(s.begin, s.end) for s in schedulers] == [(0, 1)]
