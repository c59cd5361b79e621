"""The FSDP and DeepSpeed example configs (FlexibleRunner) load and their
strategies build on CPU where their packages are installed.

What was run beyond this (2 gloo ranks through tools/dist_train.sh) and
what was not (any GPU run) is in docs/reliability.md.
"""
from pathlib import Path

import pytest

pytest.importorskip('mmdet')

ROOT = Path(__file__).resolve().parents[2]
DET = ROOT / 'configs' / 'detection'


def test_fsdp_config_builds_its_strategy():
    from mmengine.registry import FUNCTIONS, STRATEGIES

    from mmvlm.utils import load_config
    cfg = load_config(str(DET / 'lg-atss_r50_fpn_smollm2-prefix_fsdp.py'),
                      work_dir='/tmp/unused')
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.model.neck.text_encoder.name_or_path == 'smollm2-135m'
    strategy = STRATEGIES.build(cfg.strategy.copy())
    assert type(strategy).__name__ == 'FSDPStrategy'
    policy = cfg.strategy.model_wrapper.auto_wrap_policy
    with FUNCTIONS.switch_scope_and_registry(None):
        assert FUNCTIONS.get(policy.type).__name__ == \
            'size_based_auto_wrap_policy'


def test_deepspeed_config_loads():
    from mmengine.registry import OPTIM_WRAPPERS, STRATEGIES

    from mmvlm.utils import load_config
    cfg = load_config(
        str(DET / 'lg-atss_r50_fpn_smollm2-prefix_deepspeed.py'),
        work_dir='/tmp/unused')
    assert cfg.runner_type == 'FlexibleRunner'
    assert cfg.strategy.zero_optimization.stage == 2
    assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
    assert 'clip_grad' not in cfg.optim_wrapper
    assert OPTIM_WRAPPERS.get('DeepSpeedOptimWrapper') is not None
    pytest.importorskip('deepspeed')
    assert type(STRATEGIES.build(cfg.strategy.copy())).__name__ == \
        'DeepSpeedStrategy'
