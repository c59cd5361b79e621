"""The GLIP / Grounding-DINO side: a worker in the reference environment.

mmdet 3.3's GLIP and Grounding-DINO need transformers 4
(``tools/env/setup_reference_env.sh`` builds ``.venv-reference``). The
benchmark starts :mod:`mmvlm.benchmarks.reference_worker` there as a
subprocess and steps it between its own runs (:func:`interleaved` calls a
remote step like a local one), so both environments are measured in one
run, alternately, on the same machine.
"""
import json
import os
import os.path as osp
import subprocess
import tempfile
from typing import Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_VENV = osp.join(ROOT, '.venv-reference')
BUILD_COMMAND = 'bash tools/env/setup_reference_env.sh'


class ReferenceUnavailable(RuntimeError):
    """The reference environment is missing or its worker failed."""


def reference_python(venv: Optional[str] = None) -> str:
    """The reference environment's interpreter.

    Raises:
        ReferenceUnavailable: The environment is not built; the message
            names the command that builds it.
    """
    venv = venv or os.environ.get('MMVLM_REFERENCE_VENV', DEFAULT_VENV)
    python = osp.join(venv, 'bin', 'python')
    if not osp.exists(python):
        raise ReferenceUnavailable(
            f'No reference environment at {venv} (GLIP / Grounding-DINO '
            f'need transformers<5). Build it with `{BUILD_COMMAND}` '
            '(reuses the cached mmcv wheel, about 2 minutes), then run the '
            'benchmark again.')
    return python


class ReferenceSession:
    """One worker process; models and steps live in it.

    Args:
        threads (int, optional): torch threads of the worker.
        venv (str, optional): Reference environment (default
            ``.venv-reference`` or ``$MMVLM_REFERENCE_VENV``).
    """

    def __init__(self, threads: Optional[int] = None,
                 venv: Optional[str] = None) -> None:
        python = reference_python(venv)
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        env.pop('PYTHONHOME', None)
        if threads:
            env['MMVLM_BENCH_THREADS'] = str(threads)
            env['OMP_NUM_THREADS'] = str(threads)
        self.tmp = tempfile.TemporaryDirectory(prefix='mmvlm-reference-')
        self.log = open(osp.join(self.tmp.name, 'worker.log'), 'w+')
        self.proc = subprocess.Popen(
            [python, '-m', 'mmvlm.benchmarks.reference_worker'],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=ROOT,
            env=env)
        self._read()  # ready

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            raise ReferenceUnavailable(
                f'The reference worker stopped:\n{tail}\nRebuild the '
                f'environment with `{BUILD_COMMAND}`.')
        answer = json.loads(line)
        if not answer.get('ok'):
            raise ReferenceUnavailable(
                'The reference worker failed:\n' + answer.get('error', ''))
        return answer

    def ask(self, cmd: str, **kwargs) -> dict:
        """Send one command and return the worker's answer."""
        self.proc.stdin.write(json.dumps(dict(cmd=cmd, **kwargs)) + '\n')
        self.proc.stdin.flush()
        return self._read()

    def random_bert(self, tokenizer_dir: str, num_layers: int) -> str:
        """Folder of a random BERT-base (768 wide) with ``num_layers``."""
        folder = osp.join(self.tmp.name, f'bert-{num_layers}')
        self.ask('bert', folder=folder, tokenizer_dir=tokenizer_dir,
                 num_layers=num_layers)
        return folder

    def build(self, model: str, depth: int, lm_dir: str,
              num_layers: Optional[int] = None, num_queries=None,
              device: str = 'cpu') -> int:
        """Build ``'glip'`` or ``'gdino'``; returns its model bytes."""
        return self.ask('build', model=model, depth=depth, lm_dir=lm_dir,
                        num_layers=num_layers, num_queries=num_queries,
                        device=device)['model_bytes']

    def step_fn(self, key: str, model: str, names: Sequence[str],
                batch: int, size: int, train: bool):
        """A step for :func:`interleaved` that runs in the worker."""
        self.ask('data', key=key, model=model, names=list(names),
                 batch=batch, size=size, train=train)

        def step() -> Tuple[float, int]:
            answer = self.ask('step', key=key)
            return answer['seconds'], answer['peak_bytes']

        return step

    def close(self) -> None:
        """Stop the worker and remove its temporary files."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps(dict(cmd='quit')) + '\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.log.close()
        self.tmp.cleanup()
