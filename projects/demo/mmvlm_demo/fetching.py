"""Downloads from package registries and the stamps of prepared data."""
import json
import os.path as osp
import subprocess
from typing import Optional, Sequence


class RegistryUnreachableError(RuntimeError):
    """A package registry (PyPI or Debian) could not deliver a package."""


def run_download(cmd: Sequence[str], cwd: Optional[str], what: str) -> None:
    """Run a download command; raise a readable error when it fails.

    Args:
        cmd (Sequence[str]): The command.
        cwd (str, optional): Its working directory.
        what (str): What it fetches, for the error message.
    """
    try:
        proc = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as e:
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: the command {cmd[0]!r} is not available '
            f'on this machine ({e}).') from e
    except subprocess.TimeoutExpired as e:
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: `{" ".join(cmd)}` timed out after 600 s; '
            'the registry looks unreachable.') from e
    if proc.returncode != 0:
        tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise RegistryUnreachableError(
            f'Cannot fetch {what}: `{" ".join(cmd)}` exited with '
            f'{proc.returncode}. The package registry may be unreachable '
            f'from this machine (check network / proxy / pip config, or run '
            f'`apt-get update` for Debian packages), then run this tool '
            f'again; finished steps are kept.\n--- last output ---\n{tail}')


def stamp_matches(out_dir: str, options: dict) -> bool:
    """Whether ``out_dir`` was prepared with exactly ``options``."""
    path = osp.join(out_dir, '.prepared.json')
    if not osp.isfile(path):
        return False
    with open(path) as f:
        return json.load(f) == options


def write_stamp(out_dir: str, options: dict) -> None:
    """Record the ``options`` ``out_dir`` was prepared with."""
    with open(osp.join(out_dir, '.prepared.json'), 'w') as f:
        json.dump(options, f, indent=1, sort_keys=True)
