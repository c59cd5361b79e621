"""Interleaved timing and peak memory of benchmark steps.

Design notes: ``docs/design.md`` (module notes)."""
import ctypes
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

#: A step returns None (timed here) or ``(seconds, peak_bytes)`` it measured.
Step = Callable[[], Optional[Tuple[float, int]]]


def configure_memory() -> bool:
    """Make freed tensors leave the RSS at once (glibc ``mallopt``).

    Returns:
        bool: Whether the allocator was configured (glibc only).
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = libc.mallopt(m_mmap_threshold, 256 * 1024)
    ok = ok and libc.mallopt(m_trim_threshold, 1024 * 1024)
    return bool(ok)


def progress(message: str) -> None:
    """One line on stderr: what the benchmark is measuring now."""
    print(f'[benchmark {time.strftime("%H:%M:%S")}] {message}',
          file=sys.stderr,
          flush=True)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * 4096


class PeakMemory:
    """Peak memory growth of the process inside a ``with`` block.

    Args:
        device (str): ``'cpu'`` (RSS) or a CUDA device (max allocated).
        interval (float): RSS sampling period in seconds.

    Attributes:
        peak (int): Bytes above the level at entry, after the block.
    """

    def __init__(self, device: str = 'cpu', interval: float = 0.002):
        self.device = str(device)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def cuda(self) -> bool:
        return self.device.startswith('cuda')

    def __enter__(self) -> 'PeakMemory':
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        self._start = _rss_bytes()
        self._max = self._start
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, _rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._max, _rss_bytes())
        self.peak = max(0, peak - self._start)


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of a model's parameters and buffers (shared tensors once)."""
    seen, total = set(), 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
    return total


def timed_step(step: Callable[[], object], device: str) -> Tuple[float, int]:
    """Run one step; its seconds and peak memory growth."""
    with PeakMemory(device) as memory:
        if str(device).startswith('cuda'):
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if str(device).startswith('cuda'):
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, memory.peak


def interleaved(steps: Dict[str, Step],
                repeats: int,
                warmup: int = 1,
                device: str = 'cpu') -> Dict[str, dict]:
    """Median seconds and peak memory growth of each step, runs alternating.

    Args:
        steps (dict[str, Callable]): Side name → step. A step that returns
            ``(seconds, peak_bytes)`` measured itself (another process).
        repeats (int): Timed runs per side (at least 5 for the reported
            medians).
        warmup (int): Untimed runs per side first.
        device (str): Where the local steps run.

    Returns:
        dict[str, dict]: Per side ``median_s``, ``runs_s`` and
        ``peak_bytes`` (largest growth over its timed runs).
    """

    def run(step: Step) -> Tuple[float, int]:
        holder: List[Optional[Tuple[float, int]]] = [None]

        def call():
            holder[0] = step()

        seconds, peak = timed_step(call, device)
        return holder[0] if holder[0] is not None else (seconds, peak)

    progress(f'{" / ".join(steps)}: {warmup} warm-up + {repeats} timed '
             'runs each, interleaved')
    for step in steps.values():
        for _ in range(warmup):
            run(step)
    times: Dict[str, List[float]] = {k: [] for k in steps}
    peaks: Dict[str, int] = {k: 0 for k in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            seconds, peak = run(step)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    return {
        name:
        dict(median_s=statistics.median(runs),
             runs_s=[round(t, 4) for t in runs],
             peak_bytes=peaks[name])
        for name, runs in times.items()
    }
