"""Per-prompt similarity heat-maps and prompt-labelled overlays."""
import cv2
import numpy as np
import pytest
import torch

from mmvlm.visualization import (prompt_mask_overlay, prompt_slug,
                                 save_prompt_mask_overlay,
                                 save_similarity_heatmaps)


def test_similarity_heatmaps_one_png_per_prompt(tmp_path):
    image = np.full((40, 60, 3), 128, np.uint8)
    sims = torch.zeros(2, 10, 15)
    sims[0, :, :7] = 1.0  # 'polyp' high on the left
    sims[1, :, 8:] = 1.0  # 'left hippocampus' high on the right
    paths = save_similarity_heatmaps(image, sims,
                                     ['polyp', 'left hippocampus'],
                                     str(tmp_path))
    assert [p.split('/')[-1] for p in paths] == [
        'similarity_0_polyp.png', 'similarity_1_left-hippocampus.png'
    ]
    first = cv2.imread(paths[0])[..., ::-1]
    # enlarged x11 to >= 640 px, a title strip above, a colour bar right
    assert first.shape[0] > 40 * 11 and first.shape[1] > 60 * 11
    body = first[-40 * 11:, :60 * 11]
    # jet: high similarity is red, low is blue (left vs right of image 0)
    left, right = body[:, 50].astype(int), body[:, 600].astype(int)
    assert left[:, 0].mean() > left[:, 2].mean()
    assert right[:, 2].mean() > right[:, 0].mean()
    with pytest.raises(ValueError, match='prompts'):
        save_similarity_heatmaps(image, sims, ['one'], str(tmp_path))


def test_prompt_mask_overlay_colours_and_labels(tmp_path):
    image = np.zeros((50, 80, 3), np.uint8)
    masks = np.zeros((2, 50, 80), bool)
    masks[0, 10:40, 5:40] = True
    masks[1, 10:40, 45:78] = True
    out = prompt_mask_overlay(image,
                              masks, ['liver', ('spleen', 'lien')],
                              palette=[(255, 0, 0), (0, 255, 0)],
                              alpha=0.5)
    assert out.shape == image.shape
    assert tuple(out[12, 7]) == (127, 0, 0)  # half-opaque red, no label here
    assert tuple(out[12, 76]) == (0, 127, 0)
    assert tuple(out[2, 2]) == (0, 0, 0)  # outside every mask
    # the label text was drawn inside the masks (pure palette / black pixels)
    assert (out[masks[0]] == (255, 0, 0)).all(axis=1).any()
    path = save_prompt_mask_overlay(image, masks, ['a', 'b'],
                                    str(tmp_path / 'v' / 'o.png'))
    assert cv2.imread(path).shape == (400, 640, 3)  # enlarged x8
    assert prompt_slug(('Left  Kidney!', 'x')) == 'left-kidney'
    with pytest.raises(ValueError, match='differ'):
        prompt_mask_overlay(image, masks[:, :10], ['a', 'b'])


def test_visualize_prompts_writes_heatmaps_and_overlay(tmp_path):
    pytest.importorskip('mmseg')
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import mmvlm  # noqa: F401
    from mmvlm.testing import tiny_text_encoder_cfg
    from mmvlm.visualization import visualize_prompts
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(
            ConfigDict(
                type='LanguageGuidedEncoderDecoder',
                data_preprocessor=dict(type='SegDataPreProcessor',
                                       mean=[128.] * 3,
                                       std=[64.] * 3),
                backbone=dict(type='ResNetV1c',
                              depth=18,
                              stem_channels=8,
                              base_channels=8,
                              norm_cfg=dict(type='BN')),
                neck=dict(type='LLMPrefixNeck',
                          neck=dict(type='FPN',
                                    in_channels=[8, 16, 32, 64],
                                    out_channels=16,
                                    num_outs=4),
                          text_encoder=tiny_text_encoder_cfg('bert',
                                                             embed_dims=16)),
                decode_head=dict(type='LanguageGuidedFPNHead',
                                 in_channels=[16] * 4,
                                 in_index=[0, 1, 2, 3],
                                 feature_strides=[4, 8, 16, 32],
                                 channels=16,
                                 num_classes=2,
                                 out_channels=1,
                                 threshold=0.5,
                                 embed_dims=16,
                                 norm_cfg=None,
                                 loss_decode=dict(type='CrossEntropyLoss',
                                                  use_sigmoid=True)),
                test_cfg=dict(mode='whole')))
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    path = tmp_path / 'case.png'
    cv2.imwrite(str(path), image)
    out = visualize_prompts(model, str(path), ['polyp', 'left kidney'],
                            str(tmp_path / 'vis'))
    names = sorted(p.split('/')[-1] for p in out['heatmaps'] + out['overlay'])
    assert names == [
        'case_masks.png', 'case_similarity_0_polyp.png',
        'case_similarity_1_left-kidney.png'
    ]
    for p in out['heatmaps'] + out['overlay']:
        height, width = cv2.imread(p).shape[:2]  # enlarged x7 to read
        assert height >= 64 * 7 and width >= 96 * 7
    with pytest.raises(FileNotFoundError, match='nothing.png'):
        visualize_prompts(model, str(tmp_path / 'nothing.png'), ['a'],
                          str(tmp_path))
