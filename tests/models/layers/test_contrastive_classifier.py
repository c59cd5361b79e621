import math

import pytest
import torch
import torch.nn.functional as F

from mmvlm.models.layers import (MASKED_LOGIT, ContrastiveClassifier,
                                 prior_prob_to_bias)


def _text(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def test_dense_logits_match_manual_computation():
    torch.manual_seed(0)
    clf = ContrastiveClassifier(in_channels=6, embed_dims=4, num_anchors=2)
    x = torch.randn(2, 6, 5, 7)
    text = _text(3, 4)
    clf.set_text(text)
    logits = clf(x)
    assert logits.shape == (2, 2 * 3, 5, 7)
    visual = F.normalize(clf.embed(x).view(2, 2, 4, 5, 7), dim=2)
    # anchor 1, class 2, image 1, pixel (3, 4)
    expected = (visual[1, 1, :, 3, 4] @ text[2]) * math.exp(math.log(
        1 / 0.07)) + prior_prob_to_bias(0.01)
    assert torch.allclose(logits[1, 1 * 3 + 2, 3, 4], expected, atol=1e-5)


def test_dense_logits_per_image_vocabulary_with_anchors_and_gradients():
    """The fused product (scale folded into the text, bias added by
    ``baddbmm``) equals scale * cosine + bias for per-image vocabularies
    and several anchors, with the same gradients."""
    torch.manual_seed(0)
    clf = ContrastiveClassifier(in_channels=6, embed_dims=4, num_anchors=3)
    x = torch.randn(2, 6, 4, 5)
    text = _text(2, 5, 4).requires_grad_(True)
    clf.set_text(text)
    logits = clf(x)
    visual = F.normalize(clf.embed(x).view(2, 3, 4, 4, 5), dim=2)
    ref = (torch.einsum('badhw,bkd->bakhw', visual, text) * clf.scale +
           clf.bias).reshape(2, 15, 4, 5)
    assert torch.allclose(logits, ref, atol=1e-5)
    grads = torch.autograd.grad(logits.square().sum(),
                                (text, clf.bias, clf.logit_scale))
    ref_grads = torch.autograd.grad(ref.square().sum(),
                                    (text, clf.bias, clf.logit_scale))
    for got, want in zip(grads, ref_grads):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4)


def test_per_image_vocabulary_and_padding_mask():
    clf = ContrastiveClassifier(in_channels=4, embed_dims=4)
    text = _text(2, 3, 4)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    clf.set_text(text, mask)
    logits = clf(torch.randn(2, 4, 3, 3))
    assert logits.shape == (2, 3, 3, 3)
    assert (logits[1, 1:] == MASKED_LOGIT).all()
    assert (logits[0] > MASKED_LOGIT).all()
    # masked slots get no gradient and losses stay finite
    loss = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(clf.embed.weight.grad).all()


def test_linear_rows_with_batch_index_and_background():
    clf = ContrastiveClassifier(in_channels=5,
                                embed_dims=4,
                                linear=True,
                                background=True,
                                bias_prior_prob=None)
    text = _text(2, 3, 4)
    rows = torch.randn(4, 5)
    batch_index = torch.tensor([0, 0, 1, 1])
    clf.set_text(text, batch_index=batch_index)
    logits = clf(rows)
    assert logits.shape == (4, 3 + 1)  # background last
    visual = F.normalize(clf.embed(rows), dim=-1)
    assert torch.allclose(logits[2, :3],
                          visual[2] @ text[1].t() * clf.scale,
                          atol=1e-5)
    clf.set_text(text)  # per-image text without batch index
    with pytest.raises(RuntimeError, match='set_batch_index'):
        clf(rows)


def test_shared_text_for_linear_classifier():
    clf = ContrastiveClassifier(in_channels=5, embed_dims=4, linear=True)
    clf.set_text(_text(7, 4))
    assert clf(torch.randn(3, 5)).shape == (3, 7)


def test_bake_gives_identical_logits_without_text():
    clf = ContrastiveClassifier(in_channels=4, embed_dims=4)
    text = _text(5, 4)
    x = torch.randn(1, 4, 6, 6)
    clf.set_text(text)
    live = clf(x)
    clf.clear_text()
    with pytest.raises(RuntimeError, match='no vocabulary'):
        clf(x)
    clf.bake(text)
    assert clf.is_baked and clf.num_text == 5
    assert torch.equal(clf(x), live)
    # a baked classifier round-trips through a state_dict
    fresh = ContrastiveClassifier(in_channels=4,
                                  embed_dims=4,
                                  num_baked_classes=5)
    fresh.load_state_dict(clf.state_dict())
    assert torch.equal(fresh(x), live)


@pytest.mark.parametrize('bad, match', [
    (torch.randn(3, 5), 'width 5'),
    (torch.randn(0, 4), 'empty'),
    (torch.randn(4), r'\[K, D\]'),
])
def test_bad_text_inputs(bad, match):
    clf = ContrastiveClassifier(in_channels=4, embed_dims=4)
    with pytest.raises(ValueError, match=match):
        clf.set_text(bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match='num_anchors=3'):
        ContrastiveClassifier(4, 4, num_anchors=3, linear=True)
    with pytest.raises(ValueError, match='bias_prior_prob'):
        ContrastiveClassifier(4, 4, bias_prior_prob=1.5)


def test_background_in_place_of_an_entry():
    """background_index: that entry is scored with the learned embedding."""
    clf = ContrastiveClassifier(in_channels=4,
                                embed_dims=4,
                                background=True,
                                background_index=-1,
                                bias_prior_prob=None)
    x = torch.randn(2, 4, 3, 3)
    text = _text(3, 4)
    clf.set_text(text)
    logits = clf(x)
    assert logits.shape == (2, 3, 3, 3)  # K scores, nothing appended
    other = text.clone()
    other[2] = _text(4)
    clf.set_text(other)
    assert torch.equal(clf(x), logits)  # the text of entry -1 is ignored
    embeds, mask = clf.class_embeddings()
    assert mask is None
    assert torch.allclose(embeds[2], F.normalize(clf.background_embed, dim=0))
    assert torch.equal(embeds[:2], other[:2])
    logits.sum().backward()
    assert clf.background_embed.grad.abs().sum() > 0
    # per-image vocabularies and a baked vocabulary
    clf.set_text(text.expand(2, 3, 4))
    assert torch.allclose(clf(x), logits, atol=1e-6)
    clf.clear_text()
    clf.bake(text)
    assert torch.allclose(clf(x), logits, atol=1e-6)


def test_background_index_needs_a_background():
    with pytest.raises(ValueError, match='background=True'):
        ContrastiveClassifier(4, 4, background_index=0)
