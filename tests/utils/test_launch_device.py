"""A CUDA device requested on a machine without CUDA fails at once, with a
message naming the request and the fix, before any model is built."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmvlm.utils.launch import check_device_available, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


def test_cuda_without_cuda_names_the_request_and_fix(no_cuda):
    for device in ('cuda', 'cuda:0', torch.device('cuda', 1)):
        with pytest.raises(RuntimeError,
                           match=r"device='cuda.*requests CUDA.*"
                           r"device='cpu'"):
            check_device_available(device)
    check_device_available('cpu')
    check_device_available(None)


def test_missing_gpu_index_and_bad_spelling(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    with pytest.raises(RuntimeError, match='asks for GPU 3.*cuda:0 .. cuda:0'):
        check_device_available('cuda:3')
    check_device_available('cuda:0')
    with pytest.raises(ValueError, match="device='gpu'"):
        check_device_available('gpu')


def test_load_config_checks_the_device_key(tmp_path, no_cuda):
    path = tmp_path / 'cfg.py'
    path.write_text("model = dict(type='RetinaNet')\n")
    with pytest.raises(RuntimeError, match="the config key device='cuda'"):
        load_config(str(path), dict(device='cuda'))
    assert load_config(str(path), dict(device='cpu')).device == 'cpu'


@pytest.mark.parametrize('api', ['detector', 'segmentor'])
def test_apis_fail_before_building_the_model(api, no_cuda):
    from mmvlm import apis
    init = getattr(apis, f'init_language_guided_{api}')
    # The model type does not exist: building it would be a KeyError.
    cfg = Config(dict(model=dict(type='NoSuchModel')))
    with pytest.raises(RuntimeError, match="device='cuda:0' requests CUDA"):
        init(cfg, device='cuda:0')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_tools_fail_at_once(tool, tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text("model = dict(type='RetinaNet')\n")
    args = [str(path)] + (['missing.pth'] if tool == 'test.py' else [])
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / tool), *args,
         '--cfg-options', 'device=cuda'],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode != 0
    assert "device='cuda' requests CUDA" in proc.stderr, proc.stderr[-2000:]
