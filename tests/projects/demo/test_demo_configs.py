"""The demo configs (projects/demo/configs/) run through the stock mmdet /
mmseg tools.

Each config is trained for 2 iterations by the ``tools/train.py`` shipped in
the mmdet / mmsegmentation wheel (the configs import mmvlm through
``custom_imports``) and evaluated at the end of training with the stock
CocoMetric / IoUMetric; the language-guided detector is also tested by the
wheel's ``tools/test.py`` writing prediction PNGs. The data root and the
number of iterations reach the configs through the environment
(``MMVLM_DEMO_DATA``, ``MMVLM_DEMO_ITERS``), as in the demo's run script.
The data is synthetic but made by the demo's own converters
(projects/demo/mmvlm_demo) from a fake VOC file and a fake NIfTI volume, so
it has exactly the demo's format and classes, and the test needs no network.
"""
import glob
import importlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from projects.demo.mmvlm_demo import brain, open_vocabulary, trees

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')

DET_CONFIGS = ('atss_r18-tiny_trees.py', 'lg-atss_r18-tiny_minilm_trees.py')
SEG_CONFIGS = ('fpn_r18-tiny_brain.py', 'lg-fpn_r18-tiny_minilm_brain.py')
#: work-dir names of the runs, as run_demo.sh names them
RUNS = dict(zip(DET_CONFIGS + SEG_CONFIGS,
                ('det_stock', 'det_lg', 'seg_stock', 'seg_lg')))


def _voc(path, filename, size, boxes):
    objs = ''.join(
        f'<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}'
        f'</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>'
        for n, b in boxes)
    with open(path, 'w') as f:
        f.write(f'<annotation><filename>{filename}</filename><size><width>'
                f'{size[0]}</width><height>{size[1]}</height></size>{objs}'
                '</annotation>')


def make_synthetic_trees(root: str) -> str:
    """Green discs on brown ground, tiled by the demo converter."""
    rng = np.random.RandomState(0)
    src = osp.join(root, 'src')
    os.makedirs(src)
    size = 256
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (110, 90, 60)
    yy, xx = np.mgrid[:size, :size]
    boxes = []
    for _ in range(24):
        cx, cy, r = rng.randint(12, size - 12, 2).tolist() + [
            int(rng.randint(5, 10))]
        img[(xx - cx)**2 + (yy - cy)**2 <= r * r] = (40, 150, 40)
        boxes.append(('Tree', (cx - r, cy - r, cx + r, cy + r)))
    Image.fromarray(img).save(osp.join(src, 'field.png'))
    _voc(osp.join(src, 'field.xml'), 'field.png', (size, size), boxes)
    out = osp.join(root, 'trees')
    trees.convert_trees(src, out, sources=[dict(xml='field.xml', test_rows=1)],
                      tile_size=128, min_tile=64)
    return out


def make_synthetic_brain(root: str) -> str:
    """A fake T1 volume whose atlas holds the demo's AAL regions."""
    nib = pytest.importorskip('nibabel')
    shape = (48, 56, 24)
    rng = np.random.RandomState(0)
    atlas = np.zeros(shape, np.uint8)
    names = list(brain.BRAIN_REGIONS) + list(brain.BRAIN_HELDOUT)
    for i in range(len(names)):
        x, y = 4 + (i % 7) * 6, 6 + (i // 7) * 20
        atlas[x:x + 5, y:y + 12, :] = i + 1
    mri = (atlas * 15 + rng.randint(0, 20, shape)).astype(np.uint8)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(mri, affine), osp.join(root, 't1.nii.gz'))
    nib.save(nib.Nifti1Image(atlas, affine), osp.join(root, 'atlas.nii.gz'))
    with open(osp.join(root, 'names.txt'), 'w') as f:
        f.writelines(f'{i + 1} {n} {1000 + i}\n' for i, n in enumerate(names))
    out = osp.join(root, 'brain')
    brain.convert_brain(
        osp.join(root, 't1.nii.gz'), osp.join(root, 'atlas.nii.gz'),
        osp.join(root, 'names.txt'), out, block=8, test=2, gap=1,
        min_labelled=10)
    return out


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo_data'))
    return dict(trees=make_synthetic_trees(root),
                brain=make_synthetic_brain(root))


def _stock_tool(codebase: str, kind: str) -> str:
    module = importlib.import_module(codebase)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools',
                    f'{kind}.py')
    if not osp.isfile(path):
        pytest.skip(f'{codebase} wheel ships no tools/{kind}.py')
    return path


def _run(cmd, cwd, extra_env=None):
    # one thread: on a shared 2-core machine OpenMP threads thrash
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
               **(extra_env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}\n'
        f'{proc.stderr[-6000:]}')
    return proc.stdout + proc.stderr


def _metrics(work_dir: str) -> dict:
    """Last record with metrics in the runner's json logs."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          'scalars.json')) +
                       glob.glob(osp.join(work_dir, '*', '*.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if any(k.startswith('coco/') or k == 'mIoU' for k in rec):
                    return rec
    return {}


def test_config_classes_match_converter():
    from mmengine.config import Config
    det = Config.fromfile(osp.join(CONFIGS, DET_CONFIGS[1]))
    seg = Config.fromfile(osp.join(CONFIGS, SEG_CONFIGS[1]))
    assert tuple(det.classes) == trees.TREE_CLASSES
    expected = (brain.BRAIN_BACKGROUND, ) + tuple(
        brain.aal_readable_name(r) for r in brain.BRAIN_REGIONS)
    assert tuple(seg.classes) == expected
    assert seg.model.decode_head.num_classes == len(expected)
    # the LG twins keep the stock data, schedule and seed
    for lg, stock in ((det, DET_CONFIGS[0]), (seg, SEG_CONFIGS[0])):
        base = Config.fromfile(osp.join(CONFIGS, stock))
        assert lg.train_cfg == base.train_cfg
        assert lg.randomness == base.randomness
        assert lg.param_scheduler == base.param_scheduler
        assert lg.optim_wrapper == base.optim_wrapper
        assert lg.train_dataloader.batch_size == \
            base.train_dataloader.batch_size
    text_step = [s for s in seg.train_dataloader.dataset.pipeline
                 if s.type == 'LoadClassTexts']
    assert tuple(text_step[0].classes) == expected
    assert 'RandomFlip' not in [
        s.type for s in seg.train_dataloader.dataset.pipeline]


@pytest.mark.parametrize('config', DET_CONFIGS + SEG_CONFIGS)
def test_demo_config_two_iterations_stock_tools(config, demo_data, tmp_path):
    codebase = 'mmdet' if 'trees' in config else 'mmseg'
    work_dir = str(tmp_path / 'work' / RUNS[config])
    # data root and schedule (2 iterations, 1 of warm-up) from the
    # environment, as run_demo.sh passes them
    demo_env = dict(MMVLM_DEMO_DATA=osp.dirname(demo_data['trees']),
                    MMVLM_DEMO_ITERS='2')
    options = [
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ]
    log = _run([
        sys.executable,
        _stock_tool(codebase, 'train'),
        osp.join(CONFIGS, config), '--work-dir', work_dir, '--cfg-options'
    ] + options, cwd=ROOT, extra_env=demo_env)
    assert 'Iter(train) [2/2]' in log
    cfg_dump = open(osp.join(work_dir, osp.basename(config))).read()
    assert osp.dirname(demo_data['trees']) in cfg_dump  # data root from env
    assert 'eta:' in log  # progress with ETA is visible
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    metrics = _metrics(work_dir)
    key = 'coco/bbox_mAP' if codebase == 'mmdet' else 'mIoU'
    assert key in metrics, f'no {key} in the evaluation logs: {metrics}'
    assert 0.0 <= float(metrics[key]) <= 100.0
    if config == DET_CONFIGS[1]:  # stock test.py + PNGs: once, to save time
        show = str(tmp_path / 'vis')
        log = _run([
            sys.executable,
            _stock_tool(codebase, 'test'),
            osp.join(CONFIGS, config), ckpt, '--work-dir',
            str(tmp_path / 'test'), '--show-dir', show, '--cfg-options'
        ] + options, cwd=ROOT, extra_env=demo_env)
        pngs = glob.glob(osp.join(show, '**', '*.png'), recursive=True)
        assert pngs, f'no prediction PNGs written:\n{log[-2000:]}'
    if config in (DET_CONFIGS[1], SEG_CONFIGS[1]):
        # the demo's open-vocabulary step (mmvlm.apis) on the trained model
        out_dir = str(tmp_path / 'open_vocab')
        os.makedirs(out_dir)
        work, root = str(tmp_path / 'work'), osp.dirname(demo_data['trees'])
        if codebase == 'mmdet':
            result = open_vocabulary.run_detector(work, root, out_dir,
                                                  tile_prefix='field')
            assert result['prompts'] == list(open_vocabulary.DET_PROMPTS)
        else:
            result = open_vocabulary.run_segmentor(work, root, out_dir)
            heldout = [brain.aal_readable_name(r)
                       for r in brain.BRAIN_HELDOUT]
            assert result['heldout'] == heldout
            assert result['prompts'][-2:] == heldout
            assert set(result['predicted_pixels']) == set(heldout)
            assert set(result['iou']) == set(result['prompts'])
        assert result['images']
        assert all(osp.isfile(p) for p in result['images'])


def test_config_data_root_and_schedule_from_environment(monkeypatch):
    from mmengine.config import Config
    monkeypatch.delenv('MMVLM_DEMO_DATA', raising=False)
    monkeypatch.delenv('MMVLM_DEMO_ITERS', raising=False)
    for name, data, iters in ((DET_CONFIGS[1], 'trees', 300),
                              (SEG_CONFIGS[1], 'brain', 200)):
        cfg = Config.fromfile(osp.join(CONFIGS, name))
        assert cfg.train_dataloader.dataset.data_root == f'data/demo/{data}/'
        assert cfg.train_cfg.max_iters == iters
        assert [s.get('end') for s in cfg.param_scheduler] == [30, iters]
        assert not any(k.startswith('_') for k in cfg.keys())
    monkeypatch.setenv('MMVLM_DEMO_DATA', '/elsewhere')
    monkeypatch.setenv('MMVLM_DEMO_ITERS', '20')
    cfg = Config.fromfile(osp.join(CONFIGS, DET_CONFIGS[1]))
    assert cfg.test_dataloader.dataset.data_root == '/elsewhere/trees/'
    assert cfg.test_evaluator.ann_file == \
        '/elsewhere/trees/annotations/test.json'
    assert cfg.train_cfg.max_iters == 20
    assert cfg.default_hooks.checkpoint.interval == 20
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 10),
                                                               (10, 20)]
