"""mmvlm.apis.seg_inference: the prompts given to ``segment`` are the ones
scored, also with a config whose test pipeline puts the dataset classes into
every sample (the demo's language-guided FPN)."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402

from mmvlm.apis import (inference_pipeline,  # noqa: E402
                        init_language_guided_segmentor, segment)
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py'
#: the demo config with a tiny random text model instead of MiniLM
TINY = {
    'model.neck.text_encoder':
    dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64)),
    'model.data_preprocessor.size': (64, 64),
}


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_language_guided_segmentor(str(CONFIG), cfg_options=TINY)


@pytest.fixture
def image_file(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (60, 50, 3), np.uint8)
    path = tmp_path / 'slice.png'
    cv2.imwrite(str(path), image)
    return path


def test_segment_scores_the_given_prompts(model, image_file):
    prompts = 'background. left hippocampus. a red car. a red car'
    result, names = segment(model, str(image_file), prompts)
    assert names == ['background', 'left hippocampus', 'a red car']
    # 3 prompts scored, not the 13 classes LoadClassTexts puts in the sample
    assert result.seg_logits.data.shape == (3, 60, 50)
    assert result.pred_sem_seg.data.shape == (1, 60, 50)
    assert int(result.pred_sem_seg.data.max()) < 3
    # the prompts stay until cleared; an array image works as well
    image = cv2.imread(str(image_file))
    again, names_again = segment(model, image)
    assert names_again == names
    assert torch.equal(again.pred_sem_seg.data, result.pred_sem_seg.data)


def test_segment_without_prompts_uses_the_dataset_classes(model, image_file):
    model.set_vocabulary(None)
    classes = Config.fromfile(str(CONFIG)).classes
    assert tuple(model.dataset_meta['classes']) == tuple(classes)
    result, names = segment(model, str(image_file))
    assert names == list(classes)
    assert result.seg_logits.data.shape[0] == len(classes)
    with pytest.raises(ValueError, match='zero prompts'):
        segment(model, str(image_file), ' . ')


def test_inference_pipeline_is_the_test_dataloaders(model):
    pipeline = inference_pipeline(model.cfg, 'x.png')
    types = [t['type'] for t in pipeline]
    assert 'LoadAnnotations' not in types and types[0] == 'LoadImageFromFile'
    assert 'LoadClassTexts' in types
    assert inference_pipeline(model.cfg, np.zeros(
        (4, 4, 3), np.uint8))[0]['type'] == 'LoadImageFromNDArray'
    # the config is not changed
    assert model.cfg.test_dataloader.dataset.pipeline[0]['type'] == \
        'LoadImageFromFile'
    with pytest.raises(ValueError, match='test_pipeline'):
        inference_pipeline(Config(dict(model=dict())), 'x.png')


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        init_language_guided_segmentor(
            str(CONFIG), str(tmp_path / 'nothing.pth'), cfg_options=TINY)


def test_segment_reads_a_prompts_file_and_draws_readably(model, image_file,
                                                         tmp_path):
    from mmvlm.apis import draw_segmentation
    path = tmp_path / 'prompts.json'
    path.write_text('{"classes": [{"name": "background"}, {"name": "hc", '
                    '"prompt": "left hippocampus", "synonyms": '
                    '["left hippocampal formation"]}]}')
    result, names = segment(model, str(image_file), str(path))
    assert names == ['background', 'left hippocampus']
    assert result.seg_logits.data.shape == (2, 60, 50)
    drawn = draw_segmentation(str(image_file), result, names,
                              str(tmp_path / 'out.png'))
    assert drawn.shape[0] >= 60 * 10 and (tmp_path / 'out.png').is_file()
    model.set_vocabulary(None)
