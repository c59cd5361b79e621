"""The command lines of tools/model_converters/ run as subprocesses: help,
and readable errors for bad inputs."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools' / 'model_converters'


def run_tool(name: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOLS / name), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize('name, flags', [
    ('bake_vocabulary.py', ('--out-dir', '--vocabulary', '--cfg-options')),
    ('convert_gguf_to_safetensors.py', ('--out', '--dtype', '--force')),
])
def test_help(name, flags):
    out = run_tool(name, '-h')
    assert out.returncode == 0, out.stderr
    for flag in flags:
        assert flag in out.stdout


def test_convert_gguf_rejects_unknown_source(tmp_path):
    out = run_tool('convert_gguf_to_safetensors.py', tmp_path / 'nothing.bin')
    assert out.returncode != 0 and 'neither' in out.stderr
    gguf = tmp_path / 'm.gguf'
    gguf.write_bytes(b'')
    out = run_tool('convert_gguf_to_safetensors.py', gguf)
    assert out.returncode != 0 and '--out is required' in out.stderr
