"""``check_dataset.py config``: the traps of a hand-written config, from the
command line (exit status 1 with the fix named, 0 when clean)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'check_dataset.py'


def run(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), 'config',
                           str(config)],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


def seg_config(path: Path, palette: str) -> Path:
    """A two-class segmentation config with the given palette source."""
    path.write_text(
        "train_dataloader = dict(dataset=dict(\n"
        "    type='BaseSegDataset', data_root='x',\n"
        "    metainfo=dict(classes=('background', 'cell'),\n"
        f"                  palette={palette})))\n")
    return path


def test_inherited_palette_is_reported(tmp_path):
    result = run(seg_config(tmp_path / 'bad_palette.py', '[[0, 0, 0]] * 13'))
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'palette has 13 colours for 2 classes' in result.stdout
    assert '_delete_=True' in result.stdout


def test_clean_config_passes(tmp_path):
    result = run(seg_config(tmp_path / 'good.py',
                            '[[0, 0, 0], [255, 0, 0]]'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'no finding' in result.stdout
