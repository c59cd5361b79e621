"""The launchers pick the codebase from the config."""
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmvlm.utils import infer_codebase, load_config

REPO = Path(__file__).resolve().parents[2]


def _cfg(**kwargs) -> Config:
    return Config(kwargs)


def test_scope_from_default_scope():
    assert infer_codebase(_cfg(default_scope='mmseg')) == 'mmseg'
    assert infer_codebase(_cfg(default_scope='mmdet')) == 'mmdet'


def test_scope_from_model_type():
    assert infer_codebase(_cfg(model=dict(type='ATSS'))) == 'mmdet'
    assert infer_codebase(_cfg(model=dict(type='EncoderDecoder'))) == 'mmseg'


def test_unknown_scope_and_model_give_clear_errors():
    with pytest.raises(ValueError, match="default_scope='mmpretrain'"):
        infer_codebase(_cfg(default_scope='mmpretrain'))
    with pytest.raises(ValueError, match='NoSuchModel'):
        infer_codebase(_cfg(model=dict(type='NoSuchModel')))


def test_load_config_sets_work_dir_and_overrides(tmp_path):
    path = tmp_path / 'my_cfg.py'
    path.write_text("model = dict(type='RetinaNet')\nfoo = 1\n")
    cfg = load_config(str(path), dict(foo=2))
    assert cfg.foo == 2
    assert cfg.default_scope == 'mmdet'
    assert cfg.work_dir.endswith('my_cfg')
    cfg = load_config(str(path), work_dir=str(tmp_path / 'wd'))
    assert cfg.work_dir == str(tmp_path / 'wd')
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_launcher_help_runs(tool):
    out = subprocess.run([sys.executable, str(REPO / 'tools' / tool), '-h'],
                         capture_output=True, text=True, check=True)
    for flag in ('--work-dir', '--cfg-options', '--launcher'):
        assert flag in out.stdout
    if tool == 'train.py':
        assert '--resume' in out.stdout and '--amp' in out.stdout
