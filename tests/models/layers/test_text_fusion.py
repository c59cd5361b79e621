"""TextGatedFusion and TextCrossAttentionFusion."""
import pytest
import torch
import torch.nn.functional as F

from mmvlm.models.layers import TextCrossAttentionFusion, TextGatedFusion

FUSIONS = (TextGatedFusion, TextCrossAttentionFusion)


def inputs(batch=2, channels=8, dims=16, classes=3):
    torch.manual_seed(0)
    x = torch.randn(batch, channels, 5, 6)
    text = F.normalize(torch.randn(batch, classes, dims), dim=-1)
    mask = torch.ones(batch, classes, dtype=torch.bool)
    mask[1, -1] = False
    return x, text, mask


@pytest.mark.parametrize('cls', FUSIONS)
def test_zero_initialised_gate_leaves_features_unchanged(cls):
    fusion = cls(in_channels=8, embed_dims=16)
    x, text, mask = inputs()
    out = fusion(x, text, mask)
    assert torch.equal(out, x)
    # ... yet the gate receives a gradient, so training moves away from it.
    out.pow(2).sum().backward()
    assert fusion.gamma.grad.abs().sum() > 0


@pytest.mark.parametrize('cls', FUSIONS)
def test_open_gate_changes_features_and_ignores_padding(cls):
    fusion = cls(in_channels=8, embed_dims=16, init_gamma=1.0)
    x, text, mask = inputs()
    out = fusion(x, text, mask)
    assert out.shape == x.shape and not torch.allclose(out, x)
    # The padded class of image 1 must not influence it.
    other = text.clone()
    other[1, -1] = F.normalize(torch.randn(16), dim=0)
    out2 = fusion(x, other, mask)
    torch.testing.assert_close(out2[1], out[1])
    # A valid class does influence it.
    other[1, 0] = F.normalize(torch.randn(16), dim=0)
    assert not torch.allclose(fusion(x, other, mask)[1], out[1])


def test_gated_fusion_gate_follows_max_similarity():
    fusion = TextGatedFusion(in_channels=4, embed_dims=4, init_gamma=1.0)
    with torch.no_grad():
        fusion.pixel_embed.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
        fusion.pixel_embed.bias.zero_()
    x = torch.zeros(1, 4, 1, 2)
    x[0, 0, 0, 0] = 1.0  # pixel 0 points at class 0
    x[0, 1, 0, 1] = 1.0  # pixel 1 points at a direction no class has
    text = torch.tensor([[[1., 0, 0, 0], [0, 0, 1, 0]]])
    sim = fusion.max_similarity(x, text)
    assert sim.flatten().tolist() == pytest.approx([1.0, 0.0])


def test_fully_padded_vocabulary_is_finite():
    for cls in FUSIONS:
        fusion = cls(in_channels=8, embed_dims=16, init_gamma=1.0)
        x, text, _ = inputs()
        mask = torch.zeros(2, 3, dtype=torch.bool)
        assert torch.isfinite(fusion(x, text, mask)).all()


def test_bad_shapes():
    fusion = TextGatedFusion(in_channels=8, embed_dims=16)
    x, text, mask = inputs(dims=12)
    with pytest.raises(ValueError, match=r'\[B=2, K, 16\]'):
        fusion(x, text, mask)
    with pytest.raises(ValueError, match='not divisible'):
        TextCrossAttentionFusion(in_channels=10, embed_dims=16, num_heads=4)
