"""The repository passes its linter (``ruff check``, settings in
``ruff.toml``): the check ``.pre-commit-config.yaml`` runs before a commit,
run here so that CI runs it too.

The per-file ignores of ``ruff.toml`` record the findings of files as they
were when the lint was added; an entry whose file no longer needs it fails,
so the list only shrinks.
"""
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    """``ruff <args>`` of this environment, run at the repository root."""
    try:
        import ruff as _  # noqa: F401
    except ImportError:
        pytest.fail('ruff is not installed: it is pinned in '
                    'requirements/tests.txt (bash tools/setup_env.sh, or '
                    'pip install -r requirements/tests.txt '
                    '-c requirements/constraints.txt).')
    return subprocess.run([sys.executable, '-m', 'ruff', *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


def pinned_ruff() -> str:
    text = (ROOT / 'requirements' / 'tests.txt').read_text()
    match = re.search(r'^ruff==(\S+)$', text, re.M)
    assert match, 'requirements/tests.txt must pin ruff (ruff==X.Y.Z)'
    return match.group(1)


def per_file_ignores() -> Dict[str, List[str]]:
    """``[lint.per-file-ignores]`` of ruff.toml (``"path" = ["CODE"]``
    lines; tomllib needs Python 3.11, mmvlm supports 3.10)."""
    text = (ROOT / 'ruff.toml').read_text()
    section = text.split('[lint.per-file-ignores]', 1)[1].split('\n[', 1)[0]
    return {
        m.group(1): re.findall(r'"([A-Z]+[0-9]+)"', m.group(2))
        for m in re.finditer(r'^"([^"]+)"\s*=\s*\[([^\]]*)\]', section,
                             re.M)
    }


def test_ruff_check_is_clean():
    result = ruff('check', '--no-cache', '--output-format', 'concise', '.')
    assert result.returncode == 0, (
        'ruff check found problems (settings in ruff.toml; fix the code, '
        'do not widen the ignores):\n' + result.stdout[-6000:] +
        result.stderr[-2000:])


def test_per_file_ignores_are_still_needed():
    """Each recorded ignore still silences a finding of its file."""
    ignores = per_file_ignores()
    assert ignores and all(ignores.values()), ignores
    stale = []
    for path, codes in sorted(ignores.items()):
        assert (ROOT / path).is_file(), (
            f'ruff.toml ignores findings of {path}, which does not exist: '
            'delete its line')
        result = ruff('check', '--no-cache', '--output-format', 'concise',
                      '--config', 'lint.per-file-ignores = {}', '--select',
                      ','.join(codes), path)
        found = {c for c in codes if f' {c} ' in result.stdout}
        stale += [f'{path}: {c}' for c in codes if c not in found]
    assert not stale, ('these per-file ignores of ruff.toml silence '
                       f'nothing any more; delete them: {stale}')


def test_one_ruff_version_everywhere():
    """The environment, the requirements and the pre-commit hook use the
    same ruff, so a commit, CI and a developer see the same findings."""
    version = pinned_ruff()
    result = ruff('--version')
    assert result.stdout.split() == ['ruff', version], (
        f'installed {result.stdout.strip()!r}, pinned {version}: rebuild '
        'the environment (bash tools/setup_env.sh)')
    constraints = (ROOT / 'requirements' / 'constraints.txt').read_text()
    assert f'\nruff=={version}\n' in constraints
    hooks = (ROOT / '.pre-commit-config.yaml').read_text()
    assert f'ruff=={version}' in hooks
