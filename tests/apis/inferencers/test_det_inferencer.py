"""LanguageGuidedDetInferencer: mmdet's inferencer API on the demo's
language-guided ATSS (tiny random text model)."""
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import INFERENCERS, DefaultScope  # noqa: E402

from mmvlm.apis import LanguageGuidedDetInferencer  # noqa: E402
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / 'projects/demo/configs/lg-atss_r18-tiny_minilm_trees.py'


@pytest.fixture(scope='module')
def inferencer():
    cfg = Config.fromfile(str(CONFIG))
    cfg.merge_from_dict({
        'model.neck.text_encoder':
        dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64)),
        'model.test_cfg.score_thr': 0.0,
    })
    torch.manual_seed(0)
    scope = DefaultScope.get_current_instance()
    built = INFERENCERS.build(
        dict(type='LanguageGuidedDetInferencer', model=cfg, device='cpu'))
    # the global default scope is left as it was
    assert DefaultScope.get_current_instance() is scope
    return built


def test_prompts_per_call_and_pictures(inferencer, tmp_path):
    assert isinstance(inferencer, LanguageGuidedDetInferencer)
    images = [np.random.default_rng(i).integers(0, 255, (96, 80, 3),
                                                np.uint8) for i in range(2)]
    out = inferencer(images, prompts='a red car. a person',
                     return_vis=True, out_dir=str(tmp_path),
                     pred_score_thr=0.0, max_boxes=3)
    assert inferencer.classes == ['a red car', 'a person']
    assert len(out['predictions']) == 2 and len(out['visualization']) == 2
    assert set(out['predictions'][0]) == {'labels', 'scores', 'bboxes'}
    assert max(max(p['labels']) for p in out['predictions']) < 2
    assert out['visualization'][0].shape[0] > 96 * 5  # enlarged to read
    assert len(list((tmp_path / 'vis').glob('*.jpg'))) == 2
    # the prompts stay until others are given
    again = inferencer(images[0], return_datasamples=True)
    assert torch.equal(again['predictions'][0].pred_instances.scores,
                       torch.tensor(out['predictions'][0]['scores']))
    with pytest.raises(ValueError, match='show=True'):
        inferencer(images[0], show=True)


def test_prompt_maps_keep_the_vocabulary(inferencer):
    inferencer.set_prompts('a dead tree')
    image = np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)
    maps, names = inferencer.prompt_maps(image, 'tree crown. a red car')
    assert names == ['tree crown', 'a red car']
    assert maps.shape[0] == 2 and ((maps >= 0) & (maps <= 1)).all()
    assert inferencer.classes == ['a dead tree']


def test_a_built_model_takes_no_weights(inferencer):
    with pytest.raises(ValueError, match='built model'):
        LanguageGuidedDetInferencer(inferencer.model, weights='x.pth')
