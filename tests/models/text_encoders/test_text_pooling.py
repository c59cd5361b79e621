"""Pooling, projection and per-entry averaging of LM features."""
import pytest
import torch
import torch.nn.functional as F

from mmvlm.models.text_encoders import pool_hidden_states
from mmvlm.models.text_encoders.text_pooling import (average_per_entry,
                                                     build_projection,
                                                     first_valid_index,
                                                     last_valid_index)


def test_valid_indices_left_and_right_padding():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert last_valid_index(mask).tolist() == [2, 4, 4]
    assert first_valid_index(mask).tolist() == [0, 2, 0]


def test_pool_hidden_states_modes():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool_hidden_states(hidden, right,
                              'cls').flatten().tolist() == [0, 4]
    assert pool_hidden_states(hidden, left, 'cls').flatten().tolist() == [2, 4]
    assert pool_hidden_states(hidden, right,
                              'last').flatten().tolist() == [1, 7]
    assert pool_hidden_states(hidden, left,
                              'last').flatten().tolist() == [3, 7]
    assert pool_hidden_states(hidden, right,
                              'mean').flatten().tolist() == [0.5, 5.5]
    assert pool_hidden_states(hidden, left,
                              'mean').flatten().tolist() == [2.5, 5.5]
    with pytest.raises(ValueError, match='Unknown pooling'):
        pool_hidden_states(hidden, right, 'max')


def test_average_per_entry_batched_and_padding():
    embeds = F.normalize(torch.randn(2, 3, 4), dim=-1)  # [B, N, D]
    owners = torch.tensor([0, 0, 2])  # entry 1 has no prompt (padding)
    out = average_per_entry(embeds, owners, 3)
    assert out.shape == (2, 3, 4)
    torch.testing.assert_close(out[:, 0],
                               F.normalize(embeds[:, :2].sum(1), dim=-1))
    assert out[:, 1].abs().sum() == 0
    torch.testing.assert_close(out[:, 2], embeds[:, 2])


def test_build_projection():
    assert isinstance(build_projection(8, None), torch.nn.Identity)
    proj = build_projection(8, 4)
    assert proj.weight.shape == (4, 8) and proj.bias.abs().sum() == 0
