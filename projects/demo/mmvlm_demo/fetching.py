"""Downloads from package registries and the stamps of prepared data."""
import json
import os
import os.path as osp
import shutil
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


def fetch_debian_package(package: str, cache_dir: str) -> str:
    """Download a Debian package and unpack it without installing it.

    ``apt-get download`` fetches the ``.deb`` into ``<cache_dir>/debs``
    (running ``apt-get update`` once when the package lists are missing
    and this is root); ``dpkg-deb -x`` unpacks it. The package's
    ``copyright`` file is copied to ``COPYRIGHT`` beside the tree. A
    second call returns the unpacked tree at once.

    Args:
        package (str): Debian package name, e.g. ``'mricron-data'``.
        cache_dir (str): Folder for the ``.deb`` and the unpacked tree.

    Returns:
        str: The root of the unpacked tree,
        ``<cache_dir>/<package with '-' as '_'>``.
    """
    root = osp.join(cache_dir, package.replace('-', '_'))
    if osp.isfile(osp.join(root, '.complete')):
        return root
    deb_dir = osp.join(cache_dir, 'debs')
    os.makedirs(deb_dir, exist_ok=True)

    def debs() -> list:
        return sorted(d for d in os.listdir(deb_dir)
                      if d.startswith(package + '_') and d.endswith('.deb'))

    what = f'the Debian package {package}'
    if not debs():
        try:
            run_download(['apt-get', 'download', package], deb_dir, what)
        except RegistryUnreachableError:
            # A fresh machine may have no package lists yet; root can fetch
            # them once and retry.
            if not hasattr(os, 'geteuid') or os.geteuid() != 0:
                raise
            print('[prepare_demo_data] apt-get download failed; running '
                  '`apt-get update` once and retrying')
            run_download(['apt-get', 'update'], None,
                         'the Debian package lists')
            run_download(['apt-get', 'download', package], deb_dir, what)
    if not debs():
        raise RegistryUnreachableError(
            f'apt-get reported success but no {package} .deb is in '
            f'{deb_dir}.')
    deb = debs()[-1]
    os.makedirs(root, exist_ok=True)
    run_download(['dpkg-deb', '-x', osp.join(deb_dir, deb), root], None,
                 f'the contents of {deb}')
    copyright_file = osp.join(root, 'usr/share/doc', package, 'copyright')
    if osp.isfile(copyright_file):
        shutil.copy(copyright_file, osp.join(root, 'COPYRIGHT'))
    open(osp.join(root, '.complete'), 'w').close()
    return root
