"""Per-prompt heat-maps of one image for the demo's language-guided
detector and segmentor (tiny random text model)."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    'model.neck.text_encoder':
    dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64)),
}


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_save_prompt_heatmaps_one_png_per_prompt(tmp_path, task):
    pytest.importorskip('mmdet' if task == 'det' else 'mmseg')
    from mmvlm.apis import (init_language_guided_detector,
                            init_language_guided_segmentor)
    from mmvlm.apis.prompt_maps import (prompt_similarity_maps,
                                        save_prompt_heatmaps)
    torch.manual_seed(0)
    if task == 'det':
        config = 'lg-atss_r18-tiny_minilm_trees.py'
        model = init_language_guided_detector(str(
            ROOT / 'projects/demo/configs' / config),
                                              cfg_options=TINY)
    else:
        config = 'lg-fpn_r18-tiny_minilm_brain.py'
        model = init_language_guided_segmentor(
            str(ROOT / 'projects/demo/configs' / config),
            cfg_options=dict(TINY,
                             **{'model.data_preprocessor.size': (64, 64)}))
    model.set_vocabulary('a dead tree')
    image = np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), image)
    maps, names = prompt_similarity_maps(model, str(path),
                                         'tree crown. a red car')
    assert names == ['tree crown', 'a red car']
    assert maps.shape[0] == 2 and maps.ndim == 3 and torch.isfinite(maps).all()
    # the two prompts give different maps; the model's prompts are kept
    assert not torch.allclose(maps[0], maps[1])
    assert list(model.vocabulary.entries) == ['a dead tree']
    paths = save_prompt_heatmaps(model, str(path), ['tree crown', 'canopy'],
                                 str(tmp_path / 'out'))
    assert [Path(p).name for p in paths
            ] == ['img_heatmap_0_tree-crown.png', 'img_heatmap_1_canopy.png']
    assert cv2.imread(paths[0]).shape[0] > 50 * 10
    # a fixed colour scale; only the named prompts drawn (index kept)
    only = save_prompt_heatmaps(model, str(path), ['tree crown', 'canopy'],
                                str(tmp_path / 'out'), 'x',
                                value_range=(-1.0, 1.0), draw=['canopy'])
    assert [Path(p).name for p in only] == ['x_heatmap_1_canopy.png']
    with pytest.raises(ValueError, match='not among the prompts'):
        save_prompt_heatmaps(model, str(path), ['tree crown'],
                             str(tmp_path / 'out'), draw=['car'])
