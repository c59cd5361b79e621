"""The command lines of tools/dataset_converters/ run as subprocesses."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'dataset_converters' / 'prepare_medical_dataset.py'


def test_prepare_medical_dataset_kvasir_seg(tmp_path):
    pytest.importorskip('mmseg')
    raw = tmp_path / 'Kvasir-SEG'
    (raw / 'images').mkdir(parents=True)
    (raw / 'masks').mkdir()
    for i in range(5):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(
            raw / 'images' / f'cj{i}.jpg')
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 255
        Image.fromarray(mask).save(raw / 'masks' / f'cj{i}.jpg')
    out = tmp_path / 'out'
    proc = subprocess.run([
        sys.executable, str(TOOL), 'kvasir_seg',
        str(raw), str(out), '--val-ratio', '0.4'
    ], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "{'train': 3, 'val': 2}" in proc.stdout
    assert len(list((out / 'masks' / 'val').glob('*.png'))) == 2
    proc = subprocess.run(
        [sys.executable, str(TOOL), 'kvasir_seg', 'a', 'b', '--help'],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and 'isic2018_task1' in proc.stdout
