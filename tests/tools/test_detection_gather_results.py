"""tools/analysis_tools/gather_results.py builds one markdown table from the
eval json files of detection and segmentation work dirs."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'gather_results.py'


def make_work_dir(root: Path, name: str, config: str, metrics: dict,
                  params: int = 0) -> Path:
    work_dir = root / name
    stamp = work_dir / '20260101_000000'
    stamp.mkdir(parents=True)
    (work_dir / f'{name}.py').write_text(config)
    (stamp / '20260101_000000.json').write_text(json.dumps(metrics))
    (stamp / 'vis_data').mkdir()
    (stamp / 'vis_data' / 'scalars.json').write_text('{"loss": 1}')
    if params:
        torch.save(dict(state_dict=dict(w=torch.zeros(params))),
                   work_dir / 'epoch_1.pth')
    return work_dir


def test_table_from_detection_and_segmentation_work_dirs(tmp_path):
    det = make_work_dir(
        tmp_path, 'lg-atss_ov', "model = dict(type='LanguageGuidedDetector')\n"
        "test_dataloader = dict(batch_size=2, dataset=dict(metainfo=dict("
        "classes=('a', 'b', 'c'))))\n",
        {'coco/bbox_mAP': 0.412, 'coco/bbox_mAP_50': 0.6, 'coco/bbox_AP50_'
         'base': 0.55, 'coco/bbox_AP50_novel': 0.25, 'time': 0.5},
        params=2_500_000)
    lvis = make_work_dir(
        tmp_path, 'lg-atss_lvis',
        "model = dict(vocabulary=dict(dataset='LVISV1Dataset'))\n",
        {'lvis/bbox_AP': 0.1, 'lvis/bbox_AP50': 0.2})
    seg = make_work_dir(
        tmp_path, 'lg-fpn_ade', "model = dict(type='X')\n"
        "test_dataloader = dict(batch_size=1, dataset=dict(type="
        "'ADE20KDataset'))\n", {'mIoU': 43.21, 'aAcc': 80.0, 'time': 0.25})
    empty = tmp_path / 'no_eval'
    empty.mkdir()
    out = tmp_path / 'table.md'
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(det), str(lvis), str(seg), str(empty),
         '--out', str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == ('| model | vocabulary | bbox mAP | AP50 | base AP50 '
                        '| novel AP50 | mIoU | aAcc | params | images/s |')
    assert lines[2] == ('| lg-atss_ov | 3 classes | 41.2 | 60.0 | 55.0 | '
                        '25.0 | - | - | 2.50M | 4.0 |')
    assert lines[3] == ('| lg-atss_lvis | LVISV1Dataset names | 10.0 | 20.0 '
                        '| - | - | - | - | - | - |')
    assert lines[4] == ('| lg-fpn_ade | ADE20KDataset classes | - | - | - | '
                        '- | 43.2 | 80.0 | - | 4.0 |')
    assert len(lines) == 5  # the dir without eval json is skipped
