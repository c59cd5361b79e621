"""ONNX export of the demo's language-guided models on the EfficientNet-Lite0
backbone (packaged ImageNet backbone weights, random heads, MiniLM as the
other export tests): the exported graph equals PyTorch at sizes other than
the traced one, odd ones included (mmseg does not pad these test images),
which the package's dynamic "SAME" padding did not allow.

Each export is checked by :func:`export_onnx` itself (raw outputs at the
traced size + (32, -32)), by the same check at a second size, and end to end
against mmseg / mmdet through the numpy runtime.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch

from mmvlm.apis.bake_vocabulary import bake_decode_head
from mmvlm.deployment import export_onnx, load_model
from mmvlm.deployment.export_graphs import make_traceable
from mmvlm.deployment.onnx_export import (check_raw_outputs, detector_graph,
                                          segmentor_graph)
from mmvlm.deployment.parity import detection_parity, segmentation_parity

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')
SEG_CONFIG = osp.join(CONFIGS, 'lg-fpn_efficientnet-lite0_minilm_brain.py')
DET_CONFIG = osp.join(CONFIGS, 'lg-atss_efficientnet-lite0_minilm_trees.py')
ATOL = 1e-4

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


def _image(shape: tuple, seed: int) -> np.ndarray:
    """Noisy discs on a background (no flat regions of tied scores)."""
    rng = np.random.RandomState(seed)
    image = np.full(shape, (110, 90, 60), np.uint8)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for _ in range(20):
        cy, cx = rng.randint(0, shape[0]), rng.randint(0, shape[1])
        image[(yy - cy)**2 + (xx - cx)**2 <= rng.randint(20, 200)] = \
            rng.randint(0, 255, 3)
    noise = rng.randint(-20, 21, shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def _second_size_check(graph, folder: str, meta: dict) -> dict:
    """The export's own raw-output check, at (64 + 32) x (320 - 32) =
    96 x 288 instead of the traced size + (32, -32)."""
    graph = make_traceable(copy.deepcopy(graph)).eval()
    args = (torch.rand(1, 3, 64, 320) * 255, )
    return check_raw_outputs(graph, osp.join(folder, meta['onnx']), args,
                             ATOL)


@pytest.fixture(scope='module')
def segmentor_export(tmp_path_factory):
    model, _ = load_model(SEG_CONFIG)
    folder = str(tmp_path_factory.mktemp('effnet_seg'))
    meta = export_onnx(SEG_CONFIG, folder, model=model, atol=ATOL)
    return model, folder, meta


def test_segmentor_export_equals_pytorch_at_other_sizes(segmentor_export):
    model, folder, meta = segmentor_export
    traced = [160, 192]  # the sample size of size_divisor=32
    assert meta['onnx_check']['input_shape'] == [2, 3, 192, 160]
    assert meta['onnx_check']['max_rel_diff'] < ATOL
    graph, _ = segmentor_graph(model, 'baked', None, None, ATOL)
    check = _second_size_check(graph, folder, meta)
    assert check['input_shape'] == [2, 3, 96, 288]
    assert check['input_shape'][2:] != traced
    assert check['max_rel_diff'] < ATOL, check
    for shape in [(217, 181, 3), (120, 250, 3)]:
        report = segmentation_parity(model, folder, _image(shape, 1))
        assert report['shape'] == list(shape[:2]) and report['ok'], report


def test_segmentor_graph_bakes_as_the_checkpoint_baking_does(
        segmentor_export):
    """The exported head is bake_decode_head's (one way to bake a
    segmentor), baked on a copy: the model's own head is unchanged."""
    model, _, meta = segmentor_export
    before = {k: v.clone() for k, v in model.decode_head.state_dict().items()}
    graph, info = segmentor_graph(model, 'baked', None, None, ATOL)
    assert graph.head is not model.decode_head
    want = bake_decode_head(model, info['classes']).state_dict()
    got = graph.head.state_dict()
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    changed = [
        k for k in got
        if k not in before or not torch.equal(got[k], before[k])
    ]
    assert changed  # the baked class embeddings
    for key, value in model.decode_head.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_detector_export_equals_pytorch_at_other_sizes(tmp_path):
    model, _ = load_model(DET_CONFIG,
                          cfg_options={'model.test_cfg.score_thr': 0.0})
    folder = str(tmp_path / 'baked')
    meta = export_onnx(DET_CONFIG, folder, model=model, atol=ATOL)
    assert meta['onnx_check']['max_rel_diff'] < ATOL
    graph, _ = detector_graph(model, 'baked', None, None, ATOL)
    check = _second_size_check(graph, folder, meta)
    assert check['max_rel_diff'] < ATOL, check
    # long side 400: the test pipeline's Resize keeps the size; padded to
    # 416 x 352 and 320 x 416
    for shape in [(400, 352, 3), (300, 400, 3)]:
        report = detection_parity(model, folder, _image(shape, 0))
        assert report['num'] == (200, 200), report
        assert report['ok'] and report['num_compared'] > 100, report
