"""tools/setup_env.sh fails early with readable messages."""
import os
import stat
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'setup_env.sh'


def _run(tmp_path, **env):
    full_env = dict(os.environ, MMVLM_VENV=str(tmp_path / 'venv'), **env)
    return subprocess.run(['bash', str(SCRIPT)], capture_output=True,
                          text=True, env=full_env, timeout=60)


def test_missing_interpreter_is_named(tmp_path):
    result = _run(tmp_path, MMVLM_PYTHON='/no/such/python3.11')
    assert result.returncode == 1
    assert "MMVLM_PYTHON='/no/such/python3.11' is not an executable" in result.stderr
    assert 'Traceback' not in result.stderr


def test_unsupported_python_version_is_refused(tmp_path):
    fake = tmp_path / 'python3.8'
    fake.write_text('#!/usr/bin/env bash\necho 3.8\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = _run(tmp_path, MMVLM_PYTHON=str(fake))
    assert result.returncode == 1
    assert 'Python 3.8' in result.stderr and 'not supported' in result.stderr
    assert 'MMVLM_PYTHON' in result.stderr
    assert not (tmp_path / 'venv' / 'bin').exists()
