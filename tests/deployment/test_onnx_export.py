"""ONNX export of the demo's language-guided ATSS detector and FPN
segmentor (baked and text-embedding modes) and of the MiniLM text encoder,
run with onnxruntime + the numpy runtime and compared with mmdet / mmseg.

Randomly initialised weights (parity does not need training); the demo
images when ``data/demo`` exists (``tools/run_demo.sh`` prepares it), else
generated images of the same sizes. The detector's score threshold is 0 so
that every image gives the full 200 boxes to compare.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmvlm.deployment import export_onnx, load_model
from mmvlm.deployment.parity import (compare_detections, detection_parity,
                                     load_runtime, segmentation_parity,
                                     text_encoder_parity)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')
DET_CONFIG = osp.join(CONFIGS, 'lg-atss_r18-tiny_minilm_trees.py')
SEG_CONFIG = osp.join(CONFIGS, 'lg-fpn_r18-tiny_minilm_brain.py')
DEMO = osp.join(ROOT, 'data', 'demo')

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


def _image(pattern: str, shape: tuple, seed: int) -> np.ndarray:
    """A demo image, else a generated one (noisy discs on a background:
    flat regions give exactly tied scores, whose order is arbitrary)."""
    from PIL import Image
    files = sorted(glob.glob(osp.join(DEMO, pattern)))
    if files:
        return np.asarray(Image.open(files[0]).convert('RGB'))
    rng = np.random.RandomState(seed)
    image = np.full(shape, (110, 90, 60), np.uint8)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for _ in range(20):
        cy, cx = rng.randint(0, shape[0]), rng.randint(0, shape[1])
        image[(yy - cy)**2 + (xx - cx)**2 <= rng.randint(20, 200)] = \
            rng.randint(0, 255, 3)
    noise = rng.randint(-20, 21, shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def detector_exports(tmp_path_factory):
    model, _ = load_model(DET_CONFIG,
                          cfg_options={'model.test_cfg.score_thr': 0.0})
    root = tmp_path_factory.mktemp('det')
    baked = export_onnx(DET_CONFIG, str(root / 'baked'), model=model)
    text = export_onnx(DET_CONFIG,
                       str(root / 'text'),
                       model=model,
                       mode='text')
    return model, root, baked, text


def test_baked_detector_equals_mmdet(detector_exports):
    model, root, meta, _ = detector_exports
    assert meta['bake_check'] == dict(max_box_diff=0.0, max_score_diff=0.0)
    assert meta['onnx_check']['max_rel_diff'] < 1e-4
    assert meta['classes'] == ['tree'] and meta['label_ids'] == [0]
    image = _image('trees/images/*.png', (400, 352, 3), 0)
    report = detection_parity(model, str(root / 'baked'), image)
    assert report['num'] == (200, 200)
    assert report['ok'] and report['num_compared'] > 100, report
    # dynamic batch: two images of different sizes in one call
    runtime = load_runtime(str(root / 'baked'))
    detector = runtime.Detector(str(root / 'baked'))
    both = detector([image, image[:300, :256].copy()])
    single = detector(image)
    assert len(both) == 2
    test_cfg = detector.meta['head']['test_cfg']
    report = compare_detections(single, both[0], test_cfg)
    assert report['ok'] and report['num_compared'] > 100, report
    with pytest.raises(ValueError, match='baked vocabulary'):
        detector(image, np.zeros((2, 64), np.float32))


def test_text_mode_detector_and_text_encoder(detector_exports):
    model, root, _, meta = detector_exports
    folder = str(root / 'text')
    assert set(meta['files']) == set(meta['sha256']) == {
        'detection.onnx', 'text_encoder.onnx', 'tokenizer.json',
        'mmvlm_runtime.py'
    }
    assert osp.isfile(osp.join(folder, 'tokenizer.json'))
    assert meta['text_encoder']['export_check']['min_cosine'] > 1 - 1e-4
    # a vocabulary the model never saw, embedded without the torch LM
    vocab = ['tree', ('car', 'automobile'), 'a person riding a horse']
    cos = text_encoder_parity(model.neck.text_encoder, folder, vocab)
    assert cos['ok'], cos
    image = _image('trees/images/*.png', (400, 352, 3), 0)
    report = detection_parity(model, folder, image, ['tree', 'a red car'])
    assert report['ok'] and report['num'][0] > 0, report
    runtime = load_runtime(folder)
    with pytest.raises(ValueError, match='text_embeds'):
        runtime.Detector(folder)(image)


def test_run_onnx_script_without_torch(detector_exports, tmp_path):
    """tools/deployment/run_onnx.py in a fresh process: no torch."""
    _, root, _, _ = detector_exports
    from PIL import Image
    image = _image('trees/images/*.png', (400, 352, 3), 0)
    Image.fromarray(image).save(tmp_path / 'tile.png')
    script = osp.join(ROOT, 'tools', 'deployment', 'run_onnx.py')
    code = ('import runpy, sys; sys.argv = sys.argv[1:]; '
            "runpy.run_path(sys.argv[0], run_name='__main__'); "
            "print('TORCH_LOADED', 'torch' in sys.modules)")
    env = dict(os.environ, PYTHONPATH='')
    for folder, extra in ((root / 'baked', []),
                          (root / 'text', ['--prompts', 'tree', 'car'])):
        out = subprocess.run([
            sys.executable, '-c', code, script,
            str(folder),
            str(tmp_path / 'tile.png'), '--score-thr', '0'
        ] + extra,
                             capture_output=True,
                             text=True,
                             env=env,
                             cwd=str(tmp_path),
                             timeout=120)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert lines[-1] == 'TORCH_LOADED False'
        boxes = [json.loads(line) for line in lines[:-1]]
        assert len(boxes) == 200
        assert {b['label'] for b in boxes} <= {'tree', 'car'}


@pytest.fixture(scope='module')
def segmentor_export(tmp_path_factory):
    model, _ = load_model(SEG_CONFIG)
    folder = str(tmp_path_factory.mktemp('seg'))
    meta = export_onnx(SEG_CONFIG, folder, model=model)
    return model, folder, meta


def test_baked_segmentor_equals_mmseg(segmentor_export):
    model, folder, meta = segmentor_export
    assert meta['bake_check']['max_logit_diff'] < 1e-4
    assert len(meta['classes']) == 13
    image = _image('brain/img_dir/test/*.png', (217, 181, 3), 1)
    report = segmentation_parity(model, folder, image)
    assert report['shape'] == [217, 181]
    assert report['ok'], report
    # another image size through the same graph (dynamic height / width)
    report = segmentation_parity(model, folder, image[:160, :150].copy())
    assert report['shape'] == [160, 150] and report['ok'], report


def test_export_refuses_unsupported_input(segmentor_export, tmp_path):
    with pytest.raises(ValueError, match='mode='):
        export_onnx(DET_CONFIG, str(tmp_path), mode='dynamic')
    model = segmentor_export[0]
    model.test_cfg.mode = 'slide'
    try:
        with pytest.raises(ValueError, match='model.test_cfg.mode=whole'):
            export_onnx(SEG_CONFIG, str(tmp_path), model=model)
    finally:
        model.test_cfg.mode = 'whole'
    assert not os.listdir(tmp_path)
