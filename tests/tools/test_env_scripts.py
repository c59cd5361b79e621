"""The revival environment's pins and scripts (tools/env/setup_onedl_env.sh,
tools/env/check_onedl.sh) and the CI entry point that runs them."""
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ONEDL_PINS = REPO / 'requirements' / 'constraints-onedl.txt'
UPSTREAM_PINS = REPO / 'requirements' / 'constraints.txt'
SCRIPTS = [
    REPO / '.ci' / 'run',
    REPO / 'tools' / 'setup_env.sh',
    REPO / 'tools' / 'run_tests.sh',
    *sorted((REPO / 'tools' / 'env').glob('*.sh')),
]


def _pins(path: Path) -> dict:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split('#')[0].strip()
        if line:
            match = re.fullmatch(r'([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)',
                                 line)
            assert match, f'{path.name}: {line!r} is not name==version'
            pins[match[1].lower().replace('_', '-')] = match[2]
    return pins


def test_onedl_pins_name_every_revival_package_and_no_upstream_twin():
    pins = _pins(ONEDL_PINS)
    for name in ('onedl-mmengine', 'onedl-mmcv', 'onedl-mmdetection',
                 'onedl-mmsegmentation', 'onedl-mmpretrain', 'torch',
                 'torchvision'):
        assert name in pins, f'{name} is not pinned in {ONEDL_PINS.name}'
    # the upstream twins install the same import names (mmdet, mmseg, ...)
    for name in ('mmengine', 'mmcv', 'mmdet', 'mmsegmentation',
                 'mmpretrain'):
        assert name not in pins


def test_upstream_pins_hold_no_revival_package():
    assert not [n for n in _pins(UPSTREAM_PINS) if n.startswith('onedl-')]


def test_every_environment_script_parses():
    for script in SCRIPTS:
        result = subprocess.run(['bash', '-n', str(script)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f'{script}: {result.stderr}'


def test_onedl_setup_names_a_missing_interpreter(tmp_path):
    env = dict(os.environ, MMVLM_ONEDL_VENV=str(tmp_path / 'venv'),
               MMVLM_PYTHON='/no/such/python3.11')
    result = subprocess.run(
        ['bash', str(REPO / 'tools' / 'env' / 'setup_onedl_env.sh')],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "MMVLM_PYTHON='/no/such/python3.11'" in result.stderr
    assert 'Traceback' not in result.stderr


def test_onedl_check_reports_an_environment_that_does_not_build(tmp_path):
    env = dict(os.environ, MMVLM_ONEDL_VENV=str(tmp_path / 'venv'),
               MMVLM_PYTHON='/no/such/python3.11')
    result = subprocess.run(
        ['bash', str(REPO / 'tools' / 'env' / 'check_onedl.sh')],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert 'ONEDL CHECK FAILED: the environment did not build' in \
        result.stdout
