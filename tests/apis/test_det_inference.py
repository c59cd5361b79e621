"""mmvlm.apis.det_inference with the demo's language-guided ATSS config,
whose test pipeline puts the dataset class ("tree") into every sample: the
prompts given to ``detect`` are the ones scored and named."""
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmvlm.apis import (class_names, detect,  # noqa: E402
                        init_language_guided_detector, temporary_vocabulary,
                        vocabulary_label_ids)
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'projects/demo/configs/lg-atss_r18-tiny_minilm_trees.py'
TINY = {
    'model.neck.text_encoder':
    dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64)),
    'model.test_cfg.score_thr': 0.0,
}


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_language_guided_detector(str(CONFIG), cfg_options=TINY)


def test_detect_scores_the_given_prompts(model):
    image = np.random.default_rng(0).integers(0, 255, (96, 80, 3), np.uint8)
    result, names = detect(model, image, 'a red car. a person. a dead tree')
    assert names == ['a red car', 'a person', 'a dead tree']
    labels = result.pred_instances.labels
    assert len(labels) > 0 and int(labels.max()) < 3
    # three prompts scored, not the one class of LoadClassTexts ("tree")
    assert len(set(labels.tolist())) > 1


def test_vocabulary_accessors_and_temporary_vocabulary(model):
    model.set_vocabulary(['cat', 'dog'], [3, 1])
    assert vocabulary_label_ids(model) == [3, 1]
    assert class_names(model) == ['0', 'dog', '2', 'cat']
    with temporary_vocabulary(model, ['zebra'], [0]):
        assert class_names(model) == ['zebra']
    assert vocabulary_label_ids(model) == [3, 1]
    model.set_vocabulary(None)


def test_detect_reads_a_prompts_file_and_draws_readably(model, tmp_path):
    """The prompts file of training is the query too; synonyms share a
    label; the picture is enlarged with the prompts as labels."""
    from mmvlm.apis import draw_detections
    path = tmp_path / 'prompts.yaml'
    path.write_text('classes:\n  - {name: tree, prompt: tree crown, '
                    'synonyms: [canopy]}\n  - {name: car, prompt: a car}\n')
    image = np.random.default_rng(0).integers(0, 255, (96, 80, 3), np.uint8)
    result, names = detect(model, image, str(path))
    assert names == ['tree crown', 'a car']
    assert model.vocabulary.entries == (('tree crown', 'canopy'), 'a car')
    drawn = draw_detections(image, result, names,
                            str(tmp_path / 'out.png'), score_thr=0.0,
                            max_boxes=5)
    assert drawn.shape[0] > 96 * 6 and (tmp_path / 'out.png').is_file()
    model.set_vocabulary(None)
