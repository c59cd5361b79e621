"""prompt_mask_overlay: masks coloured and labelled with their prompts."""
import cv2
import numpy as np
import pytest

from mmvlm.visualization import (prompt_mask_overlay, prompt_slug,
                                 save_prompt_mask_overlay)


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
