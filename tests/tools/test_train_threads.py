"""tools/train.py sets its CPU threads (mmvlm.utils.cpu_threads) first, as
tools/test.py does: a share of the cores when OMP_NUM_THREADS is unset, and
a warning naming the fix when concurrent runs oversubscribe the cores."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / 'tools' / 'train.py'


@pytest.fixture
def train_module():
    spec = importlib.util.spec_from_file_location('mmvlm_tools_train', TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_threads_are_configured_before_the_config_loads(
        train_module, monkeypatch, tmp_path):
    calls = []

    class Stop(Exception):
        pass

    def load_config(*args, **kwargs):
        calls.append('load_config')
        raise Stop

    monkeypatch.setattr(train_module, 'configure_threads',
                        lambda: calls.append('configure_threads'))
    monkeypatch.setattr(train_module, 'load_config', load_config)
    monkeypatch.setattr(sys, 'argv',
                        ['train.py', str(tmp_path / 'config.py')])
    with pytest.raises(Stop):
        train_module.main()
    assert calls == ['configure_threads', 'load_config']


def test_train_py_warns_about_oversubscribed_cores(tmp_path):
    """A live run holding 64 threads: tools/train.py warns with the fix
    before anything else (here it then stops on the missing config)."""
    runs = tmp_path / 'runs'
    runs.mkdir()
    # this pytest process: alive, and registered as a greedy run
    (runs / f'{os.getpid()}.json').write_text(json.dumps(dict(threads=64)))
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    env.update(MMVLM_RUNS_DIR=str(runs), PYTHONPATH=str(ROOT))
    missing = tmp_path / 'missing_config.py'
    proc = subprocess.run([sys.executable, str(TRAIN),
                           str(missing)],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode != 0
    assert '2 run(s) of mmvlm use' in proc.stderr, proc.stderr[-2000:]
    assert 'OMP_NUM_THREADS=' in proc.stderr
    assert 'missing_config.py' in proc.stderr
    # the child's own registry entry is removed at its exit
    assert sorted(p.name for p in runs.iterdir()) == [f'{os.getpid()}.json']
