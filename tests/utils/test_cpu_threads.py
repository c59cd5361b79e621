"""mmvlm.utils.cpu_threads: a run takes the cores divided by the live runs
when OMP_NUM_THREADS is unset, keeps the user's value, and warns when the
live runs oversubscribe the cores (two trainings with default threads on
2 cores ran 3-4x slower per iteration than with OMP_NUM_THREADS=1)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmvlm.utils import cpu_threads

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_threads(monkeypatch):
    saved = torch.get_num_threads()
    for key in cpu_threads.THREAD_VARIABLES + ('LOCAL_WORLD_SIZE', ):
        monkeypatch.delenv(key, raising=False)
    yield
    torch.set_num_threads(saved)


def fake_run(folder: Path, pid: int, threads: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{pid}.json').write_text(json.dumps(dict(threads=threads)))


def test_unset_threads_are_the_cores_shared_by_the_live_runs(
        tmp_path, monkeypatch, restore_threads):
    monkeypatch.setattr(cpu_threads, 'available_cores', lambda: 8)
    fake_run(tmp_path, os.getppid(), 4)  # a live run
    fake_run(tmp_path, 2**22 + 12345, 8)  # an ended run: its file goes
    plan = cpu_threads.configure_threads(register=False, folder=str(tmp_path))
    assert (plan.threads, plan.runs, plan.total) == (4, 2, 8)
    assert not plan.oversubscribed
    assert os.environ['OMP_NUM_THREADS'] == '4'
    assert torch.get_num_threads() == 4
    assert not (tmp_path / f'{2**22 + 12345}.json').exists()


def test_oversubscription_warns_with_the_fix(tmp_path, monkeypatch,
                                             restore_threads):
    monkeypatch.setattr(cpu_threads, 'available_cores', lambda: 2)
    fake_run(tmp_path, os.getppid(), 2)  # started earlier, took every core
    monkeypatch.setenv('OMP_NUM_THREADS', '2')  # the user's: kept
    with pytest.warns(UserWarning, match='2 run.* use 4 CPU threads on 2 '
                      r'core.*OMP_NUM_THREADS=1'):
        plan = cpu_threads.configure_threads(register=False,
                                             folder=str(tmp_path))
    assert (plan.threads, plan.source) == (2, 'OMP_NUM_THREADS')


def test_a_run_registers_until_it_ends(tmp_path, monkeypatch,
                                       restore_threads):
    monkeypatch.setattr(cpu_threads, 'available_cores', lambda: 4)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')  # two ranks on this node
    plan = cpu_threads.configure_threads(register=True, folder=str(tmp_path))
    assert plan.threads == 2
    assert json.loads((tmp_path / f'{os.getpid()}.json').read_text()) == \
        dict(threads=2)


def test_tools_test_py_sets_threads_before_loading(tmp_path):
    """tools/test.py shares the cores and warns, before anything else (here
    it then stops on the missing checkpoint)."""
    runs = tmp_path / 'runs'
    fake_run(runs, os.getpid(), 64)  # this pytest process: alive, greedy
    env = {k: v for k, v in os.environ.items() if k != 'OMP_NUM_THREADS'}
    env.update(MMVLM_RUNS_DIR=str(runs), PYTHONPATH=str(ROOT))
    config = ROOT / 'projects/demo/configs/fpn_r18-tiny_brain.py'
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'test.py'), str(config),
         str(tmp_path / 'missing.pth')],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert 'CPU threads on' in proc.stderr and 'OMP_NUM_THREADS=' in \
        proc.stderr
    assert 'missing.pth' in proc.stderr
