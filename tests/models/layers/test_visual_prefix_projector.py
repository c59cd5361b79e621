"""VisualPrefixProjector: attention pooling into LM input space."""
import pytest
import torch

from mmvlm.models.layers import VisualPrefixProjector


def test_shapes_scale_and_gradients():
    torch.manual_seed(0)
    projector = VisualPrefixProjector(
        in_channels=16, lm_dims=32, num_visual_tokens=3, num_heads=2,
        init_std=0.5)
    x = torch.randn(2, 16, 6, 5)
    tokens = projector(x)
    assert tokens.shape == (2, 3, 32)
    # init_std sets the token scale (within sampling noise)
    assert 0.3 < float(tokens.detach().std()) < 0.7
    # each image gets its own tokens
    assert not torch.allclose(tokens[0], tokens[1])
    tokens.sum().backward()
    assert projector.queries.grad.abs().sum() > 0


def test_bad_input():
    projector = VisualPrefixProjector(in_channels=16, lm_dims=32)
    with pytest.raises(ValueError, match=r'\[B, 16, H, W\]'):
        projector(torch.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match='num_visual_tokens'):
        VisualPrefixProjector(in_channels=16, lm_dims=32, num_visual_tokens=0)
