"""CPU threads of a training or test process: a share of the cores, and a
warning when concurrent runs oversubscribe them.

Design notes: ``docs/design.md`` (module notes)."""
import atexit
import json
import os
import os.path as osp
import tempfile
import warnings
from dataclasses import dataclass
from typing import Dict, Optional

#: environment variables that name the thread count of a process
THREAD_VARIABLES = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')


@dataclass(frozen=True)
class ThreadPlan:
    """The threads chosen for this process.

    Attributes:
        threads (int): Threads of this process.
        cores (int): Cores this process may run on.
        runs (int): Concurrent runs counted, this one included.
        total (int): Threads of all live runs, this one included.
        source (str): ``'OMP_NUM_THREADS'`` (the user's) or ``'cores'``.
    """
    threads: int
    cores: int
    runs: int
    total: int
    source: str

    @property
    def oversubscribed(self) -> bool:
        """More threads than cores over the live runs."""
        return self.total > self.cores


def available_cores() -> int:
    """Cores this process may run on (its affinity, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def registry_dir() -> str:
    """Folder of the live runs' files (``MMVLM_RUNS_DIR`` overrides)."""
    return os.environ.get('MMVLM_RUNS_DIR') or osp.join(
        tempfile.gettempdir(), f'mmvlm-runs-{os.getuid()}')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_runs(folder: Optional[str] = None) -> Dict[int, int]:
    """Process id -> threads of the other live runs (stale files of ended
    runs are removed)."""
    folder = folder or registry_dir()
    runs = {}
    if not osp.isdir(folder):
        return runs
    for name in os.listdir(folder):
        stem, ext = osp.splitext(name)
        if ext != '.json' or not stem.isdigit():
            continue
        pid = int(stem)
        path = osp.join(folder, name)
        if pid == os.getpid():
            continue
        if not _alive(pid):
            try:
                os.remove(path)
            except OSError:
                pass
            continue
        try:
            with open(path) as f:
                runs[pid] = max(1, int(json.load(f)['threads']))
        except (OSError, ValueError, KeyError, TypeError):
            runs[pid] = 1
    return runs


def _register(folder: str, threads: int) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, f'{os.getpid()}.json')
        with open(path, 'w') as f:
            json.dump(dict(threads=threads), f)
    except OSError:
        return  # a read-only temp dir: no count, no failure
    atexit.register(_unregister, path)


def _unregister(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def configure_threads(register: bool = True,
                      folder: Optional[str] = None) -> ThreadPlan:
    """Choose, set and announce the threads of this process.

    Without ``OMP_NUM_THREADS`` the process gets ``cores // runs`` threads
    (at least 1): ``runs`` counts the live runs of the registry plus this
    one, or the processes of a distributed launch on this node
    (``LOCAL_WORLD_SIZE``), whichever is more. ``OMP_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` are set to it (for the processes this one starts)
    and ``torch.set_num_threads`` applies it to this one. A user's
    ``OMP_NUM_THREADS`` is kept. A warning names the fix when the live
    runs' threads exceed the cores.

    Args:
        register (bool): Record this run (its pid and threads) so runs
            started later count it; removed at exit.
        folder (str, optional): The registry; default :func:`registry_dir`.

    Returns:
        ThreadPlan: What was chosen.
    """
    folder = folder or registry_dir()
    cores = available_cores()
    others = live_runs(folder)
    local = int(os.environ.get('LOCAL_WORLD_SIZE', '1') or 1)
    runs = max(len(others) + 1, local)
    user = os.environ.get('OMP_NUM_THREADS', '').strip()
    if user.isdigit() and int(user) > 0:
        threads, source = int(user), 'OMP_NUM_THREADS'
    else:
        threads, source = max(1, cores // runs), 'cores'
        for key in THREAD_VARIABLES:
            os.environ[key] = str(threads)
    import torch
    torch.set_num_threads(threads)
    if register:
        _register(folder, threads)
    total = sum(others.values()) + threads
    plan = ThreadPlan(threads, cores, runs, total, source)
    if plan.oversubscribed:
        warnings.warn(
            f'{runs} run(s) of mmvlm use {total} CPU threads on {cores} '
            f'core(s) (this one {threads}, from {source}): each runs several '
            'times slower than alone (measured: 5.1-5.6 s per iteration for '
            'two trainings on 2 cores with default threads, 1.3-2 s with '
            'OMP_NUM_THREADS=1). Run one at a time, or start each with '
            f'OMP_NUM_THREADS={max(1, cores // runs)}.')
    return plan
