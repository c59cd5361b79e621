"""tools/misc/image_demo.py (run as a subprocess) and mmvlm.apis: free-text
prompts -> PNG with labelled boxes, from a language-guided checkpoint and
from a baked one."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

import cv2  # noqa: E402
from mmengine.config import Config  # noqa: E402

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lg_setup(tmp_path):
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16)
    config = tmp_path / 'tiny_lg_atss.py'
    base = ROOT / 'configs/detection/lg-atss_r50_fpn_1x_coco.py'
    config.write_text(f"""_base_ = {str(base)!r}
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(text_encoder=dict(_delete_=True, **{text_encoder!r}),
              neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),
    bbox_head=dict(num_classes=3, embed_dims=16, in_channels=16,
                   feat_channels=16, stacked_convs=1,
                   norm_cfg=dict(type='GN', num_groups=4, requires_grad=True)),
    test_cfg=dict(score_thr=0.0))
""")
    from mmvlm.apis import init_language_guided_detector
    torch.manual_seed(0)
    model = init_language_guided_detector(str(config))
    checkpoint = tmp_path / 'lg.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    image = np.full((96, 96, 3), 128, np.uint8)
    image[20:60, 30:70] = (30, 30, 220)  # a red square (BGR)
    image_file = tmp_path / 'image.png'
    cv2.imwrite(str(image_file), image)
    return config, checkpoint, image_file, model


def box_names(out: str) -> set:
    """Class names of the '<name>: <score> [box]' lines the demo prints."""
    return {
        m.group(1)
        for m in re.finditer(r'^(.+): \d\.\d\d \[', out, re.MULTILINE)
    }


def run_demo(*argv) -> str:
    """Run the CLI in a subprocess; return its standard output."""
    proc = subprocess.run(
        [sys.executable,
         str(ROOT / 'tools' / 'misc' / 'image_demo.py'), *map(str, argv)],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_demo_from_lg_checkpoint_with_free_text(tmp_path, lg_setup):
    config, checkpoint, image_file, _ = lg_setup
    out_file = tmp_path / 'out.png'
    out = run_demo(image_file, config, '--weights',
                   checkpoint, '--prompts',
                   'a red square. a person with an umbrella. a red square',
                   '--out-file', out_file, '--score-thr', '0')
    drawn = cv2.imread(str(out_file))
    original = cv2.imread(str(image_file))
    # enlarged x7 to read (>= 640 px) with a title line (and a legend when
    # labels do not fit); boxes in the colour of their prompt (the first:
    # RGB (230, 25, 75))
    assert drawn.shape[0] > original.shape[0] * 7
    assert drawn.shape[1] >= original.shape[1] * 7
    assert (drawn == (75, 25, 230)).all(-1).any()  # boxes drawn
    names = box_names(out)
    assert names and names <= {'a red square', 'a person with an umbrella'}
    assert 'drawn to' in out.strip().splitlines()[-1]


def test_api_errors_and_baked_model(tmp_path, lg_setup):
    from mmvlm.apis import bake, detect, init_language_guided_detector
    config, checkpoint, image_file, model = lg_setup
    with pytest.raises(ValueError, match='zero prompts'):
        detect(model, str(image_file), ' . ')
    result, names = detect(model, str(image_file), ['a cat', 'a dog'])
    assert names == ['a cat', 'a dog']
    assert result.pred_instances.labels.max() <= 1

    baked, baked_cfg = bake(model, Config.fromfile(config),
                                 'a red square. a blue square')
    baked_cfg.dump(tmp_path / 'baked.py')
    torch.save(dict(state_dict=baked.state_dict(),
                    meta=dict(dataset_meta=baked.dataset_meta)),
               tmp_path / 'baked.pth')
    out_file = tmp_path / 'baked.png'
    out = run_demo(image_file, tmp_path / 'baked.py',
                   '--weights', tmp_path / 'baked.pth', '--out-file',
                   out_file, '--score-thr', '0')
    assert out_file.exists()
    names = box_names(out)
    assert names and names <= {'a red square', 'a blue square'}

    baked_model = init_language_guided_detector(
        str(tmp_path / 'baked.py'), str(tmp_path / 'baked.pth'))
    assert baked_model.is_baked and not baked_model.with_text_neck
    with pytest.raises(ValueError, match='baked'):
        detect(baked_model, str(image_file), 'a horse')


def region_names(out: str) -> set:
    """Class names of the '<name>: <pixels> pixels' lines the demo prints."""
    return {
        m.group(1)
        for m in re.finditer(r'^(.+): \d+ pixels$', out, re.MULTILINE)
    }


def test_demo_segments_with_the_given_prompts(tmp_path):
    pytest.importorskip('mmseg')
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=64)
    config = tmp_path / 'tiny_lg_fpn.py'
    base = ROOT / 'projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py'
    config.write_text(f"""_base_ = {str(base)!r}
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    neck=dict(text_encoder=dict(_delete_=True, **{text_encoder!r})))
""")
    image = np.random.default_rng(0).integers(0, 255, (60, 50, 3), np.uint8)
    image_file = tmp_path / 'slice.png'
    cv2.imwrite(str(image_file), image)
    out_file = tmp_path / 'regions.png'
    prompts = ('background', 'left hippocampus', 'a red car')
    out = run_demo(image_file, config, '--prompts', '. '.join(prompts),
                   '--out-file', out_file, '--allow-untrained')
    # the prompts are the classes, not the 13 the test pipeline carries
    names = region_names(out)
    assert names and names <= set(prompts)
    assert 'regions drawn to' in out.strip().splitlines()[-1]
    assert cv2.imread(str(out_file)).shape[:2] >= (60 * 11, 50 * 11)


def test_demo_refuses_an_untrained_model_unless_asked(tmp_path, lg_setup):
    """Without --weights it used to draw an untrained head's boxes (21 at
    scores 0.30-0.48 on the R50 config) without a word."""
    config, _, image_file, _ = lg_setup
    out_file = tmp_path / 'out.png'
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'misc' / 'image_demo.py'),
         str(image_file), str(config), '--out-file', str(out_file)],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert '--allow-untrained' in proc.stderr and '--weights' in proc.stderr
    assert not out_file.exists()
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'misc' / 'image_demo.py'),
         str(image_file), str(config), '--out-file', str(out_file),
         '--allow-untrained', '--prompts', 'a red square'],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'untrained (random)' in proc.stderr
    assert out_file.exists()


def test_demo_names_the_fix_for_a_missing_init_dependency(tmp_path,
                                                           lg_setup,
                                                           monkeypatch):
    """The R50 config's ImageNet init imports torchvision: without it the
    tool says to give a checkpoint or install the package."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'image_demo_tool', ROOT / 'tools' / 'misc' / 'image_demo.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    import mmvlm.apis

    def init_without_torchvision(cfg, weights, device):
        assert weights is None
        raise ModuleNotFoundError("No module named 'torchvision'",
                                  name='torchvision')

    monkeypatch.setattr(mmvlm.apis, 'init_language_guided_detector',
                        init_without_torchvision)
    config, _, image_file, _ = lg_setup
    with pytest.raises(SystemExit) as err:
        tool.main([str(image_file), str(config), '--allow-untrained'])
    message = str(err.value)
    assert '--weights' in message and 'pip install torchvision' in message
