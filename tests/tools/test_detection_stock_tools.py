"""The stock mmdet tools/train.py and tools/test.py (shipped in the mmdet
wheel) train and evaluate every lg-* detection config with custom_imports.

Each config is shrunk for CPU: a tiny synthetic COCO data set written to
tmp_path, ResNet-18 with 8 base channels and no pretrained weights, a tiny
random text encoder, 96 px images. Overrides are given the stock way: a
derived config for nested dicts, and ``--cfg-options`` for scalars.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mmdet = pytest.importorskip('mmdet')

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MIM_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
CLASSES = ('red square', 'green square', 'blue square')
COLOURS = ((220, 30, 30), (30, 200, 30), (30, 30, 220))


def write_toy_coco(root: Path, num_images: int = 4, size: int = 96,
                   seed: int = 0) -> Path:
    """Coloured squares on grey, in COCO format; returns the ann file."""
    import cv2
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    (root / 'images').mkdir(parents=True, exist_ok=True)
    for img_id in range(1, num_images + 1):
        img = np.full((size, size, 3), 128, np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            label = int(rng.integers(0, len(CLASSES)))
            side = int(rng.integers(20, 40))
            x, y = (int(v) for v in rng.integers(0, size - side, 2))
            img[y:y + side, x:x + side] = COLOURS[label][::-1]  # BGR
            annotations.append(
                dict(id=len(annotations) + 1, image_id=img_id,
                     category_id=label + 1, bbox=[x, y, side, side],
                     area=side * side, iscrowd=0))
        name = f'{img_id:04d}.png'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
    ann = dict(images=images, annotations=annotations,
               categories=[dict(id=i + 1, name=n)
                           for i, n in enumerate(CLASSES)])
    path = root / 'annotations.json'
    path.write_text(json.dumps(ann))
    return path


def tiny_config(tmp_path: Path, base: str, ann_file: Path) -> Path:
    """Derived config: data, tiny text encoder, tiny FPN/heads."""
    if 'smollm2' in base:  # decoder-only LM with a learnable prefix
        text_encoder = tiny_text_encoder_cfg(
            'llama', embed_dims=16, prefix_length=4)
    else:
        text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16)
    data = dict(
        data_root=str(ann_file.parent),
        ann_file=ann_file.name,
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=CLASSES),
        filter_cfg=dict(filter_empty_gt=False, min_size=0))
    loader = dict(num_workers=0, persistent_workers=False)
    two_stage = 'faster-rcnn' in base
    lines = [
        f'_base_ = {str(ROOT / "configs" / "detection" / base)!r}',
        'model = dict(',
        '    neck=dict(',
        f'        text_encoder=dict(_delete_=True, **{text_encoder!r}),',
        '        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),',
    ]
    if two_stage:
        lines += [
            '    rpn_head=dict(in_channels=16, feat_channels=16),',
            '    roi_head=dict(',
            '        bbox_roi_extractor=dict(out_channels=16),',
            '        bbox_head=dict(num_classes=3, embed_dims=16,',
            '                       in_channels=16, fc_out_channels=32)),',
        ]
    else:
        norm = ("norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),"
                if 'retinanet' not in base else '')
        lines += [
            '    bbox_head=dict(num_classes=3, embed_dims=16, in_channels=16,',
            f'                   feat_channels=16, stacked_convs=1, {norm}),',
        ]
    lines += [
        ')',
        f'train_dataloader = dict(batch_size=2, **{loader!r},',
        f'    dataset=dict(**{data!r}))',
        f'val_dataloader = dict(batch_size=2, **{loader!r},',
        f'    dataset=dict(**{data!r}))',
        'test_dataloader = val_dataloader',
        f'val_evaluator = dict(ann_file={str(ann_file)!r})',
        'test_evaluator = val_evaluator',
        'train_cfg = dict(max_epochs=1, val_interval=100)',
        'default_hooks = dict(logger=dict(interval=1))',
        'env_cfg = dict(cudnn_benchmark=False)',
    ]
    path = tmp_path / f'tiny_{base}'
    path.write_text('\n'.join(lines) + '\n')
    return path


def cfg_options(base: str) -> list:
    opts = [
        'model.backbone.depth=18',
        'model.backbone.base_channels=8',
        'model.backbone.init_cfg=None',
        'train_dataloader.dataset.pipeline.2.scale=(96,96)',
        'val_dataloader.dataset.pipeline.1.scale=(96,96)',
        'test_dataloader.dataset.pipeline.1.scale=(96,96)',
    ]
    return opts


def run_tool(tool: str, args: list, cwd: Path) -> str:
    # No TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD: importing mmvlm (custom_imports)
    # allow-lists what mmengine checkpoints hold for weights_only loading.
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    proc = subprocess.run(
        [sys.executable, str(MIM_TOOLS / tool), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{tool} failed:\n{output[-4000:]}'
    return output


CONFIGS = [
    'lg-atss_r50_fpn_1x_coco.py',
    'lg-retinanet_r50_fpn_1x_coco.py',
    'lg-fcos_r50_fpn_1x_coco.py',
    'lg-faster-rcnn_r50_fpn_1x_coco.py',
    'lg-atss_r50_fpn_smollm2-prefix_1x_coco.py',
]


@pytest.mark.slow
@pytest.mark.parametrize('base', CONFIGS)
def test_stock_train_and_test(tmp_path, base):
    ann_file = write_toy_coco(tmp_path / 'data')
    config = tiny_config(tmp_path, base, ann_file)
    work_dir = tmp_path / 'work'
    out = run_tool('train.py', [
        str(config), '--work-dir', str(work_dir), '--cfg-options',
        *cfg_options(base)
    ], tmp_path)
    # Two iterations (4 images, batch 2), finite losses logged.
    assert 'Epoch(train) [1][2/2]' in out, out[-3000:]
    assert 'loss: nan' not in out
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.exists()
    # The LM is frozen and kept out of the checkpoint.
    import torch
    state = torch.load(checkpoint, map_location='cpu',
                       weights_only=False)['state_dict']
    assert not [k for k in state if '.model.encoder.' in k
                or 'word_embeddings' in k]

    out = run_tool('test.py', [
        str(config), str(checkpoint), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', *cfg_options(base)
    ], tmp_path)
    assert 'coco/bbox_mAP:' in out, out[-3000:]
    results = list((tmp_path / 'test').rglob('*.json'))
    metrics = [json.loads(p.read_text()) for p in results]
    metrics = [m for m in metrics if 'coco/bbox_mAP' in m]
    assert metrics and 0.0 <= metrics[0]['coco/bbox_mAP'] <= 1.0

    if base != 'lg-atss_r50_fpn_1x_coco.py':
        return
    # The results table reads what the stock test.py left in its work dir.
    from mmvlm.evaluation import gather_results
    rows = gather_results([str(tmp_path / 'test')])
    assert len(rows) == 1
    assert rows[0]['vocabulary'] == '3 classes'
    assert float(rows[0]['bbox mAP']) == pytest.approx(
        100 * metrics[0]['coco/bbox_mAP'], abs=0.05)
    assert float(rows[0]['images/s']) > 0
    # Leaderboard mode: format-only writes a COCO results json.
    prefix = tmp_path / 'format_only' / 'results'
    run_tool('test.py', [
        str(config), str(checkpoint), '--work-dir',
        str(tmp_path / 'test_fmt'), '--cfg-options', *cfg_options(base),
        'test_evaluator.format_only=True',
        f'test_evaluator.outfile_prefix={prefix}'
    ], tmp_path)
    check_coco_results_json(Path(f'{prefix}.bbox.json'), ann_file)

    # Bake the dataset classes into the trained model; the LM-free model is
    # evaluated by the stock test.py as well.
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable,
        str(ROOT / 'tools' / 'model_converters' / 'bake_vocabulary.py'),
        str(config), str(checkpoint), '--out-dir', str(tmp_path / 'baked'),
        '--cfg-options', *cfg_options(base)
    ], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'baked 3 classes' in proc.stdout
    out = run_tool('test.py', [
        str(tmp_path / 'baked' / 'baked.py'),
        str(tmp_path / 'baked' / 'baked.pth'), '--work-dir',
        str(tmp_path / 'test_baked')
    ], tmp_path)
    assert 'coco/bbox_mAP:' in out, out[-3000:]


def check_coco_results_json(results_file: Path, ann_file: Path) -> None:
    """Validate a detection results json with pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    detections = json.loads(results_file.read_text())
    assert isinstance(detections, list) and detections
    for det in detections[:50]:
        assert set(det) >= {'image_id', 'category_id', 'bbox', 'score'}
        assert len(det['bbox']) == 4 and det['bbox'][2] >= 0
    gt = COCO(str(ann_file))
    assert {d['image_id'] for d in detections} <= set(gt.getImgIds())
    assert {d['category_id'] for d in detections} <= set(gt.getCatIds())
    dt = gt.loadRes(str(results_file))
    coco_eval = COCOeval(gt, dt, 'bbox')
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    assert 0.0 <= coco_eval.stats[0] <= 1.0
