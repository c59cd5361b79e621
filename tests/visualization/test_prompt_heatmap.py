"""draw_prompt_heatmap: one readable similarity picture per prompt."""
import numpy as np
import pytest
import torch

from mmvlm.visualization import draw_prompt_heatmap, prompt_slug


def test_draw_prompt_heatmap_enlarges_titles_and_colours():
    image = np.full((30, 50, 3), 128, np.uint8)
    sim = torch.zeros(6, 10)
    sim[:, :5] = 2.0  # the prompt matches the left half
    out = draw_prompt_heatmap(image, sim, ('tree crown', 'canopy'))
    assert out.dtype == np.uint8 and out.ndim == 3
    zoom = 13  # ceil(640 / 50)
    title = out.shape[0] - 30 * zoom
    assert 10 < title < 40  # a title strip above, the image kept whole
    assert out.shape[1] > 50 * zoom  # plus the colour bar
    body = out[title:, :50 * zoom].astype(int)
    left, right = body[:, 20], body[:, -20]
    assert left[:, 0].mean() > left[:, 2].mean()  # red: high
    assert right[:, 2].mean() > right[:, 0].mean()  # blue: low
    # the title strip carries dark text pixels (the prompt)
    assert (out[:title, :200] < 100).any()
    # a fixed value range shared by prompts; no enlarging with min_size=0
    same = draw_prompt_heatmap(image,
                               sim[None],
                               'x',
                               value_range=(0, 4),
                               min_size=0)
    assert same.shape[1] > 50 and same.shape[0] - title < 30 + 5


def test_draw_prompt_heatmap_bad_inputs_name_the_fix():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r'index the prompt'):
        draw_prompt_heatmap(image, torch.zeros(2, 4, 4), 'a')
    with pytest.raises(ValueError, match='NaN'):
        draw_prompt_heatmap(image, torch.full((4, 4), float('nan')), 'a')
    with pytest.raises(ValueError, match='uint8 RGB'):
        draw_prompt_heatmap(image[..., 0], torch.zeros(4, 4), 'a')


def test_prompt_slug_names_files_by_the_first_synonym():
    assert prompt_slug(('Left  Kidney!', 'x')) == 'left-kidney'
    assert prompt_slug('细胞') == 'prompt'
