"""An export folder is checked against its ``meta.json`` before anything
runs: hashes, graph signature, levels, strides, classes; the torch-free
runner imports its runtime by path after checking its SHA-256, so no file
placed in the folder runs.

One baked export of the demo's language-guided ATSS detector (random
weights), copied and damaged per test.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mmvlm.deployment import export_onnx, load_model, runtime
from mmvlm.deployment.parity import load_runtime

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET_CONFIG = osp.join(ROOT, 'projects', 'demo', 'configs',
                      'lg-atss_r18-tiny_minilm_trees.py')
RUN_ONNX = osp.join(ROOT, 'tools', 'deployment', 'run_onnx.py')

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


@pytest.fixture(scope='module')
def export_dir(tmp_path_factory):
    model, _ = load_model(DET_CONFIG)
    folder = str(tmp_path_factory.mktemp('verified') / 'baked')
    export_onnx(DET_CONFIG, folder, model=model)
    return folder


@pytest.fixture
def copy(export_dir, tmp_path):
    """A fresh copy of the export and a test image."""
    folder = str(tmp_path / 'export')
    shutil.copytree(export_dir, folder)
    from PIL import Image
    rng = np.random.RandomState(0)
    image = rng.randint(0, 255, (100, 130, 3), np.uint8)
    Image.fromarray(image).save(tmp_path / 'tile.png')
    return folder, image, str(tmp_path / 'tile.png')


def _edit_meta(folder, edit):
    path = osp.join(folder, 'meta.json')
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, 'w') as f:
        json.dump(meta, f)


def _run_onnx(folder, image, cwd):
    return subprocess.run(
        [sys.executable, RUN_ONNX, folder, image, '--score-thr', '0'],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=''),
        timeout=120)


def test_meta_records_version_hashes_and_signature(export_dir):
    meta = runtime.load_meta(export_dir)
    assert meta['format_version'] == runtime.FORMAT_VERSION == 2
    assert set(meta['sha256']) == set(meta['files']) == {
        'detection.onnx', 'mmvlm_runtime.py'
    }
    for name, digest in meta['sha256'].items():
        assert runtime.sha256_of(osp.join(export_dir, name)) == digest
        assert osp.getsize(osp.join(export_dir, name)) == meta['files'][name]
    signature = meta['signature']['detection.onnx']
    assert [a['name'] for a in signature['inputs']] == ['inputs']
    assert signature['inputs'][0]['type'] == 'tensor(float)'
    levels = meta['head']['num_levels']
    assert len(signature['outputs']) == 3 * levels  # ATSS: + centerness
    cls = [a for a in signature['outputs'] if a['name'] == 'cls_score_0'][0]
    assert cls['shape'][1] == meta['head']['num_base_priors'] * 1  # 'tree'


def test_flipped_byte_in_the_graph_is_refused(copy):
    folder, image, image_file = copy
    path = osp.join(folder, 'detection.onnx')
    with open(path, 'r+b') as f:
        f.seek(osp.getsize(path) // 2)  # inside the weights
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(runtime.ExportError) as info:
        runtime.load_model(folder)
    assert path in str(info.value) and "sha256['detection.onnx']" in str(
        info.value)
    out = _run_onnx(folder, image_file, folder)
    assert out.returncode != 0 and out.stdout == ''
    assert 'detection.onnx has SHA-256' in out.stderr


def test_truncated_graph_names_its_size(copy):
    folder = copy[0]
    path = osp.join(folder, 'detection.onnx')
    with open(path, 'r+b') as f:
        f.truncate(osp.getsize(path) - 10)
    with pytest.raises(runtime.ExportError,
                       match=r"files\['detection.onnx'\]"):
        runtime.load_model(folder)


def test_wrong_stride_is_refused(copy):
    folder, image, image_file = copy
    detector = runtime.load_model(folder)
    assert len(detector(image)['bboxes']) >= 0  # the intact export runs

    def edit(meta):
        meta['head']['priors']['strides'][0] = [16, 16]  # it is 8

    _edit_meta(folder, edit)
    detector = runtime.load_model(folder)
    with pytest.raises(runtime.ExportError,
                       match=r'head\.priors\.strides\[0\] = \[16, 16\]'):
        detector(image)
    out = _run_onnx(folder, image_file, folder)
    assert out.returncode != 0 and 'strides[0]' in out.stderr


def test_three_class_names_for_a_one_class_graph_are_refused(copy):
    folder = copy[0]

    def edit(meta):
        meta['classes'] = ['tree', 'car', 'person']
        meta['label_ids'] = [0, 1, 2]

    _edit_meta(folder, edit)
    with pytest.raises(runtime.ExportError) as info:
        runtime.load_model(folder)
    message = str(info.value)
    assert 'field classes names 3 classes' in message
    assert 'scores 1 ' in message and 'meta.json' in message

    def ids(meta):
        meta['classes'] = ['tree']
        meta['label_ids'] = [0, 1]

    _edit_meta(folder, ids)
    with pytest.raises(runtime.ExportError, match='field label_ids has 2'):
        runtime.load_model(folder)


def test_levels_and_signature_of_another_graph_are_refused(copy):
    folder = copy[0]
    _edit_meta(folder, lambda m: m['head'].update(num_levels=6))
    with pytest.raises(runtime.ExportError, match='head.num_levels=6'):
        runtime.load_model(folder)
    _edit_meta(folder, lambda m: m['head'].update(num_levels=5))

    def rename(meta):
        meta['signature']['detection.onnx']['outputs'][0]['name'] = 'other'

    _edit_meta(folder, rename)
    with pytest.raises(runtime.ExportError,
                       match=r"signature\['detection.onnx'\]\.outputs"):
        runtime.load_model(folder)


def test_malformed_or_old_meta_names_its_file(copy):
    folder, _, image_file = copy
    path = osp.join(folder, 'meta.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:len(text) // 2])
    with pytest.raises(runtime.ExportError) as info:
        runtime.load_meta(folder)
    assert f'{path} is not valid JSON' in str(info.value)
    out = _run_onnx(folder, image_file, folder)
    assert out.returncode != 0 and path in out.stderr
    with open(path, 'w') as f:
        f.write(text)
    _edit_meta(folder, lambda m: m.update(format_version=1))
    with pytest.raises(runtime.ExportError, match='format_version is 1'):
        runtime.load_meta(folder)
    _edit_meta(folder, lambda m: m.update(format_version=2) or m.pop('sha256'))
    with pytest.raises(runtime.ExportError, match=r"\['sha256'\]"):
        runtime.load_meta(folder)


def test_no_file_in_the_export_folder_runs(copy, tmp_path):
    """A planted numpy.py / onnxruntime.py never runs; an edited runtime
    module is refused before it runs (marker files stay absent)."""
    folder, _, image_file = copy
    marker = tmp_path / 'planted_ran'
    planted = (f'import pathlib\npathlib.Path({str(marker)!r}).write_text('
               "'ran')\n")
    for name in ('numpy.py', 'onnxruntime.py', 'tokenizers.py'):
        with open(osp.join(folder, name), 'w') as f:
            f.write(planted)
    # run from inside the folder, the likeliest place for a user to be
    out = _run_onnx(folder, image_file, folder)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) > 0
    assert not marker.exists()
    # the same through the Python helper of the package
    load_runtime(folder).load_model(folder)
    assert not marker.exists()
    edited = tmp_path / 'runtime_ran'
    with open(osp.join(folder, 'mmvlm_runtime.py'), 'a') as f:
        f.write(f'\nimport pathlib\npathlib.Path({str(edited)!r})'
                ".write_text('ran')\n")
    out = _run_onnx(folder, image_file, folder)
    assert out.returncode != 0
    assert 'mmvlm_runtime.py has SHA-256' in out.stderr
    assert 'is not run' in out.stderr
    with pytest.raises(runtime.ExportError, match='mmvlm_runtime.py'):
        load_runtime(folder)
    assert not edited.exists() and not marker.exists()
