"""The web demo's model runner without the page (no gradio needed): every
bad input of the page is a Result with a message, never an exception; the
stock twin answers with its classes only; pixel shares add up."""
import os.path as osp

import cv2
import numpy as np
import pytest

from web_demo_fixtures import make_tiny_models, write_image

from mmvlm.deployment import export_onnx
from projects.web_demo.mmvlm_web_demo.catalog import (DETECTION,
                                                      SEGMENTATION,
                                                      demo_catalog,
                                                      onnx_entry, user_entry)
from projects.web_demo.mmvlm_web_demo.service import DemoService


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('service'))
    entries = make_tiny_models(root)
    entries.append(user_entry(entries[0].config, osp.join(root, 'gone.pth'),
                              DETECTION, key='missing_checkpoint'))
    return DemoService(entries), entries[0].examples[0].path, root


def test_detection_lists_the_typed_prompts(setup):
    service, image, _ = setup
    result = service.run('tiny_det_lg', image, 'a red car. dead tree', 0.0,
                         5)
    assert result.ok, result.message
    assert len(result.rows) == 5
    assert {r[0] for r in result.rows} <= {'a red car', 'dead tree'}
    status = {r[0]: r[-1] for r in result.rows}
    assert status.get('dead tree', 'held out (never trained)') == \
        'held out (never trained)'
    assert status.get('a red car', 'free text') == 'free text'
    assert result.image.ndim == 3 and result.image.shape[2] == 3
    assert [c for _, c in result.heatmaps] == ['a red car', 'dead tree']
    assert 'request' in result.message


def test_threshold_above_every_score_lists_nothing(setup):
    service, image, _ = setup
    result = service.run('tiny_det_lg', image, 'bacterium', 0.95, 5)
    assert result.ok and result.rows == []
    assert 'nothing at or above score 0.95' in result.message


def test_stock_twin_answers_with_its_classes_only(setup):
    service, image, _ = setup
    result = service.run('tiny_det_lg', image, 'tree. a red car', 0.0, 5,
                         stock=True)
    assert result.ok, result.message
    assert {r[0] for r in result.rows} == {'tree'}
    assert 'cannot look for "a red car"' in result.message
    assert result.heatmaps == []


def test_segmentation_pixel_shares_add_up(setup):
    service, image, _ = setup
    result = service.run('tiny_seg_lg', image,
                         'background. left hippocampus. a red car')
    assert result.ok, result.message
    assert [r[0] for r in result.rows] == [
        'background', 'left hippocampus', 'a red car']
    assert sum(r[1] for r in result.rows) == 96 * 128
    assert abs(sum(r[2] for r in result.rows) - 100) < 0.1
    stock = service.run('tiny_seg_lg', image, 'background. a red car',
                        stock=True)
    assert stock.ok and [r[0] for r in stock.rows] == ['background']


@pytest.mark.parametrize('prompts, expected', [
    ('', 'No prompt'),
    (' . ;\n', 'No prompt'),
    ('. '.join(f'thing {i}' for i in range(2000)), '2000 prompts given'),
    ('x' * 300, 'has 300 characters'),
])
def test_bad_prompts_are_messages(setup, prompts, expected):
    service, image, _ = setup
    result = service.run('tiny_det_lg', image, prompts)
    assert not result.ok and expected in result.message
    assert result.message.startswith('**Not run:**')


def test_cjk_prompt_is_a_message_naming_it(setup):
    """MiniLM's WordPiece has no pieces for these: mmvlm refuses them by
    name instead of scoring [UNK]."""
    service, image, _ = setup
    result = service.run('tiny_det_lg', image, '猫。红色的汽车')
    assert not result.ok
    assert 'cannot represent' in result.message and '猫' in result.message


def test_non_image_and_missing_image_are_messages(setup, tmp_path):
    service, _, _ = setup
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    result = service.run('tiny_det_lg', str(text), 'tree')
    assert not result.ok and "'notes.txt' is not an image" in result.message
    assert 'No image' in service.run('tiny_det_lg', None, 'tree').message
    broken = tmp_path / 'broken.png'
    broken.write_bytes(open(write_image(str(tmp_path / 'ok.png')),
                            'rb').read()[:200])
    result = service.run('tiny_det_lg', str(broken), 'tree')
    assert not result.ok and 'broken.png' in result.message


def test_6000_by_4000_image_is_shrunk_and_run(setup, tmp_path):
    service, _, _ = setup
    image = np.full((4000, 6000, 3), 90, np.uint8)
    path = str(tmp_path / 'huge.png')
    cv2.imwrite(path, image)
    result = service.run('tiny_det_lg', path, 'tree', 0.0, 3)
    assert result.ok, result.message
    assert 'shrunk to 1333 x 889' in result.message
    assert max(r[4] for r in result.rows) <= 1333


def test_missing_checkpoint_and_unknown_model_are_messages(setup):
    service, image, _ = setup
    result = service.run('missing_checkpoint', image, 'tree')
    assert not result.ok and 'gone.pth' in result.message
    assert 'not found' in result.message
    result = service.run('no_such_model', image, 'tree')
    assert not result.ok and "No model named 'no_such_model'" in \
        result.message
    # the service goes on
    assert service.run('tiny_det_lg', image, 'tree', 0.0, 2).ok


def test_demo_catalog_names_unfinished_runs(tmp_path):
    entries = {e.key: e for e in demo_catalog(str(tmp_path), 'data/demo')}
    assert set(entries) >= {'concepts_lg', 'concepts_stock', 'det_lg',
                            'seg_lg', 'seg_stock'}
    lg = entries['concepts_lg']
    assert lg.twin == 'concepts_stock' and lg.checkpoint is None
    assert 'bash tools/run_demo.sh' in lg.missing
    assert len(lg.seen) > 500 and len(lg.held_out) > 100
    assert not set(lg.seen) & set(lg.held_out)
    assert lg.name_status(lg.held_out[0]) == 'held out (never trained)'
    assert entries['seg_lg'].task == 'segmentation'


def test_onnx_exports_run_through_the_numpy_runtime(setup):
    """Text-mode exports of the tiny detector and segmentor: the same
    prompts, the same boxes as the PyTorch model."""
    service, image, root = setup
    det, seg = service.entries['tiny_det_lg'], service.entries['tiny_seg_lg']
    export_onnx(det.config, osp.join(root, 'det_onnx'), det.checkpoint,
                mode='text')
    export_onnx(seg.config, osp.join(root, 'seg_onnx'), seg.checkpoint,
                mode='text')
    onnx = DemoService([
        onnx_entry(osp.join(root, 'det_onnx'), DETECTION, key='det'),
        onnx_entry(osp.join(root, 'seg_onnx'), SEGMENTATION, key='seg'),
        onnx_entry(osp.join(root, 'nothing'), DETECTION, key='gone'),
    ])
    got = onnx.run('det', image, 'tree. a red car', 0.0, 5)
    want = service.run('tiny_det_lg', image, 'tree. a red car', 0.0, 5)
    assert got.ok, got.message
    assert [r[0] for r in got.rows] == [r[0] for r in want.rows]
    for a, b in zip(got.rows, want.rows):
        assert abs(a[1] - b[1]) < 0.01 and abs(a[2] - b[2]) < 2
    shares = onnx.run('seg', image, 'tree. a red car')
    assert shares.ok and sum(r[1] for r in shares.rows) == 96 * 128
    gone = onnx.run('gone', image, 'tree')
    assert not gone.ok and 'meta.json' in gone.message


def test_prompts_file_is_used_instead_of_the_box(setup, tmp_path):
    service, image, _ = setup
    path = tmp_path / 'prompts.yaml'
    path.write_text('classes:\n  - {name: tree, prompt: tree crown, '
                    'synonyms: [canopy]}\n  - {name: car, prompt: a car}\n')
    result = service.run('tiny_det_lg', image, '', 0.0, 10,
                         prompts_file=str(path))
    assert result.ok, result.message
    assert {r[0] for r in result.rows} <= {'tree crown', 'a car'}
    assert [c for _, c in result.heatmaps] == ['tree crown', 'a car']


def test_an_unavailable_model_is_named_before_the_inputs(setup):
    service, _, _ = setup
    result = service.run('missing_checkpoint', None, '')
    assert not result.ok and 'gone.pth' in result.message
    result = service.run('tiny_det_lg', None, 'tree', stock=True)
    assert 'No image' in result.message
    result = service.run('tiny_seg_stock', None, 'tree', stock=True)
    assert 'has no stock twin' in result.message
