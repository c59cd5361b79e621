"""LanguageGuidedSegInferencer: mmseg's inferencer API on the demo's
language-guided FPN (tiny random text model)."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from mmvlm.apis import (LanguageGuidedSegInferencer,  # noqa: E402
                        init_language_guided_segmentor)
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / 'projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py'


@pytest.fixture(scope='module')
def inferencer():
    torch.manual_seed(0)
    model = init_language_guided_segmentor(
        str(CONFIG),
        cfg_options={
            'model.neck.text_encoder':
            dict(_delete_=True,
                 **tiny_text_encoder_cfg('bert', embed_dims=64)),
            'model.data_preprocessor.size': (64, 64),
        })
    return LanguageGuidedSegInferencer(model)


def test_label_maps_pictures_and_samples(inferencer, tmp_path):
    path = tmp_path / 'slice.png'
    cv2.imwrite(str(path), np.random.default_rng(0).integers(
        0, 255, (60, 50, 3), np.uint8))
    out = inferencer(str(path), prompts='background. left hippocampus',
                     return_vis=True, out_dir=str(tmp_path / 'out'))
    assert out['predictions'].shape == (60, 50)
    assert int(out['predictions'].max()) < 2
    assert out['visualization'].shape[0] >= 60 * 10
    assert (tmp_path / 'out' / 'vis' / 'slice.png').is_file()
    assert (tmp_path / 'out' / 'pred' / '00000000_pred.png').is_file()
    samples = inferencer(str(path), return_datasamples=True)
    assert samples['predictions'][0].seg_logits.data.shape == (2, 60, 50)
    assert samples['visualization'] == []


def test_prompt_maps_are_cosine_similarities(inferencer):
    image = np.random.default_rng(1).integers(0, 255, (40, 30, 3), np.uint8)
    maps, names = inferencer.prompt_maps(image, ['polyp', 'left kidney'])
    assert names == ['polyp', 'left kidney']
    assert maps.shape[0] == 2 and maps.abs().max() <= 1 + 1e-5


def test_wide_label_map_loading_is_left_out_at_inference():
    """A test pipeline that loads 16-bit label maps (many-concept
    configs) prepares a bare image: ground-truth loaders are dropped."""
    import numpy as np
    from mmengine.config import Config

    from mmvlm.apis.inferencers.inference_pipeline import inference_pipeline
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadWideSegMap'),
        dict(type='PackSegInputs')
    ]))))
    steps = inference_pipeline(cfg, np.zeros((8, 8, 3), np.uint8))
    assert [s['type'] for s in steps] == ['LoadImageFromNDArray',
                                          'PackSegInputs']
