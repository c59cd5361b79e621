"""LLMPrefixNeck: vocabularies, inner necks, fusion and visual prefix."""
import copy

import pytest
import torch

from mmvlm.models.necks import LLMPrefixNeck
from mmvlm.registry import codebase_available
from mmvlm.testing import tiny_text_encoder_cfg


def make_neck(arch='bert', **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault('neck', None)
    encoder = kwargs.pop('text_encoder', {})
    return LLMPrefixNeck(
        text_encoder=tiny_text_encoder_cfg(arch, embed_dims=16, **encoder),
        **kwargs)


def feats(batch=2, channels=8):
    torch.manual_seed(1)
    return (torch.randn(batch, channels, 8, 8),
            torch.randn(batch, channels, 4, 4))


class LMSpy:

    def __init__(self, encoder):
        self.sequences = []
        forward = encoder.lm.forward

        def spy(*args, **kwargs):
            self.sequences.append(kwargs['attention_mask'].shape[0])
            return forward(*args, **kwargs)

        encoder.lm.forward = spy


def test_shared_vocabulary():
    neck = make_neck()
    x = feats()
    out, embeds, mask = neck(x, ['cat', ('dog', 'puppy'), 'car'])
    assert all(torch.equal(a, b) for a, b in zip(out, x))  # pass-through
    assert embeds.shape == (2, 3, 16) and mask.shape == (2, 3)
    assert mask.all() and mask.dtype == torch.bool
    torch.testing.assert_close(embeds[0], embeds[1])
    torch.testing.assert_close(embeds.norm(dim=-1), torch.ones(2, 3))
    torch.testing.assert_close(
        embeds[0], neck.encode_vocabulary(['cat', ('dog', 'puppy'), 'car']))


def test_per_image_vocabularies_are_padded_and_encoded_once():
    neck = make_neck()
    spy = LMSpy(neck.text_encoder)
    texts = [('cat', 'dog'), ('dog', ('bus', 'coach'), 'tree', '')]
    _, embeds, mask = neck(feats(), texts)
    assert embeds.shape == (2, 4, 16)
    assert mask.tolist() == [[True, True, False, False],
                             [True, True, True, False]]
    assert embeds[0, 2:].abs().sum() == 0 and embeds[1, 3].abs().sum() == 0
    # the union (cat, dog, bus, coach, tree) ran through the LM once
    assert spy.sequences == [5]
    torch.testing.assert_close(embeds[0, 1], embeds[1, 0])
    torch.testing.assert_close(embeds[1, :3],
                               neck.encode_vocabulary(texts[1][:3]))


def test_ambiguous_vocabulary_can_be_forced_shared():
    neck = make_neck()
    texts = [('cat', 'kitten'), ('dog', 'puppy')]  # 2 entries, batch of 2
    _, per_image, mask = neck(feats(), texts)
    assert per_image.shape == (2, 2, 16)  # read as per-image vocabularies
    _, shared, _ = neck(feats(), texts, per_image=False)
    torch.testing.assert_close(shared[0], neck.encode_vocabulary(texts))
    with pytest.raises(ValueError, match='3 per-image vocabularies'):
        neck(feats(), [['a'], ['b'], ['c']], per_image=True)


@pytest.mark.parametrize('fusion', ['TextGatedFusion',
                                    'TextCrossAttentionFusion'])
def test_fusion_starts_as_identity_and_learns(fusion):
    neck = make_neck(fusion=dict(type=fusion, in_channels=8))
    x = feats()
    out, embeds, mask = neck(x, [['cat'], ['dog', 'car']])
    assert all(torch.equal(a, b) for a, b in zip(out, x))
    loss = sum(o.pow(2).sum() for o in out)
    loss.backward()
    assert neck.fusion.gamma.grad.abs().sum() > 0
    with torch.no_grad():
        neck.fusion.gamma.fill_(1.0)
    out, _, _ = neck(x, [['cat'], ['dog', 'car']])
    assert not torch.allclose(out[0], x[0])


def test_per_level_fusion_modules():
    neck = make_neck(fusion=dict(type='TextGatedFusion', in_channels=[8, 4]))
    x = (torch.randn(2, 8, 8, 8), torch.randn(2, 4, 4, 4))
    out, _, _ = neck(x, ['cat', 'dog'])
    assert [o.shape[1] for o in out] == [8, 4] and len(neck.fusion) == 2


def test_width_mismatches_fail_at_build():
    with pytest.raises(ValueError, match='embed_dims=32 differs from the '
                       'text encoder embed_dims=16'):
        make_neck(fusion=dict(type='TextGatedFusion', in_channels=8,
                              embed_dims=32))
    with pytest.raises(ValueError, match='needs in_channels'):
        make_neck(fusion=dict(type='TextGatedFusion'))
    with pytest.raises(ValueError, match="mode='both'"):
        make_neck(visual_prefix=dict(in_channels=8, mode='both'))


@pytest.mark.parametrize('arch', ['bert', 'gpt2', 'llama'])
def test_visual_prefix_gradients_reach_projector_lm_stays_identical(arch):
    neck = make_neck(
        arch,
        text_encoder=dict(prefix_length=2),
        visual_prefix=dict(num_visual_tokens=2, in_channels=8))
    neck.train()
    lm_before = copy.deepcopy(neck.text_encoder.lm.state_dict())
    spy = LMSpy(neck.text_encoder)
    params = [p for p in neck.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=0.1)
    x = feats()
    _, embeds, mask = neck(x, ['cat', 'dog', 'car'])
    assert embeds.shape == (2, 3, 16)
    # image-conditioned: the same class differs between the two images
    assert not torch.allclose(embeds[0], embeds[1])
    assert sum(spy.sequences) == 2 * 3  # B x K sequences
    embeds.pow(3).sum().backward()
    grad = neck.visual_projector.proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert neck.visual_projector.queries.grad.abs().sum() > 0
    assert all(p.grad is None for p in neck.text_encoder.lm.parameters())
    proj_before = neck.visual_projector.proj.weight.detach().clone()
    optim.step()
    assert not torch.equal(neck.visual_projector.proj.weight, proj_before)
    for name, value in neck.text_encoder.lm.state_dict().items():
        assert torch.equal(value, lm_before[name]), name


def test_visual_prefix_per_image_vocabularies():
    neck = make_neck(visual_prefix=dict(num_visual_tokens=2, in_channels=8))
    _, embeds, mask = neck(feats(), [['cat'], ['dog', 'car']])
    assert embeds.shape == (2, 2, 16)
    assert mask.tolist() == [[True, False], [True, True]]
    assert embeds[0, 1].abs().sum() == 0


def test_cheap_per_image_visual_prefix():
    neck = make_neck(visual_prefix=dict(num_visual_tokens=2, in_channels=8,
                                        mode='per_image'))
    spy = LMSpy(neck.text_encoder)
    x = feats()
    plain = neck.encode_vocabulary(['cat', 'dog', 'car'])
    _, embeds, _ = neck(x, ['cat', 'dog', 'car'])
    # zero-initialised gate: unchanged class embeddings at step 0
    torch.testing.assert_close(embeds[0], plain)
    assert spy.sequences == [3, 2]  # vocabulary once (cached), then B images
    _, embeds, _ = neck(x, ['cat', 'dog', 'car'])
    assert spy.sequences == [3, 2, 2]  # only the B image sequences again
    embeds.sum().backward()
    assert neck.visual_gate.grad.abs() > 0
    with torch.no_grad():
        neck.visual_gate.fill_(1.0)
    _, embeds, _ = neck(x, ['cat', 'dog', 'car'])
    assert not torch.allclose(embeds[0], embeds[1])
    embeds.pow(3).sum().backward()
    assert neck.visual_projector.proj.weight.grad.abs().sum() > 0


def test_state_dict_excludes_the_language_model():
    neck = make_neck(text_encoder=dict(prefix_length=2),
                     fusion=dict(type='TextGatedFusion', in_channels=8))
    state = neck.state_dict()
    assert not any(k.startswith('text_encoder.lm.') for k in state)
    assert 'text_encoder.prefix' in state and 'fusion.gamma' in state
    fresh = make_neck(text_encoder=dict(prefix_length=2),
                      fusion=dict(type='TextGatedFusion', in_channels=8))
    with torch.no_grad():
        neck.text_encoder.prefix.add_(1.0)
    result = fresh.load_state_dict(neck.state_dict(), strict=True)
    assert result.missing_keys == []
    assert torch.equal(fresh.text_encoder.prefix, neck.text_encoder.prefix)


def test_init_weights_does_not_touch_the_lm():
    neck = make_neck(fusion=dict(type='TextGatedFusion', in_channels=8))
    before = copy.deepcopy(neck.text_encoder.lm.state_dict())
    neck.init_weights()
    for name, value in neck.text_encoder.lm.state_dict().items():
        assert torch.equal(value, before[name]), name


@pytest.mark.skipif(not codebase_available('mmdet'), reason='needs mmdet')
def test_inner_mmdet_fpn_in_default_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = make_neck(
            neck=dict(type='FPN', in_channels=[8, 16], out_channels=8,
                      num_outs=3),
            fusion=dict(type='TextCrossAttentionFusion', num_heads=2))
    assert neck.fusion.in_channels == 8  # taken from the FPN
    x = (torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8))
    out, embeds, mask = neck(x, ['cat', 'dog'])
    assert [tuple(o.shape) for o in out] == [(2, 8, 16, 16), (2, 8, 8, 8),
                                            (2, 8, 4, 4)]
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(ValueError, match='out_channels=8'):
            make_neck(
                neck=dict(type='FPN', in_channels=[8, 16], out_channels=8,
                          num_outs=2),
                fusion=dict(type='TextGatedFusion', in_channels=4))


@pytest.mark.skipif(not codebase_available('mmseg'), reason='needs mmseg')
def test_inner_mmseg_fpn_and_registry():
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    assert MODELS.get('LLMPrefixNeck') is LLMPrefixNeck
    with DefaultScope.overwrite_default_scope('mmseg'):
        neck = MODELS.build(
            dict(type='LLMPrefixNeck',
                 neck=dict(type='FPN', in_channels=[8, 16], out_channels=8,
                           num_outs=2),
                 text_encoder=tiny_text_encoder_cfg('gpt2', embed_dims=16),
                 fusion=dict(type='TextGatedFusion')))
    x = (torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8))
    out, embeds, mask = neck(x, ['road', 'sky'])
    assert len(out) == 2 and embeds.shape == (1, 2, 16)


@pytest.mark.parametrize('visual', [False, True])
def test_an_image_without_classes_is_all_padding(visual):
    kwargs = dict(visual_prefix=dict(num_visual_tokens=2, in_channels=8)) \
        if visual else {}
    neck = make_neck(fusion=dict(type='TextGatedFusion', in_channels=8,
                                 init_gamma=1.0), **kwargs)
    x = feats(batch=3)
    out, embeds, mask = neck(x, [['cat', 'dog'], [], ['', '']])
    assert embeds.shape == (3, 2, 16)
    assert mask.tolist() == [[True, True], [False, False], [False, False]]
    assert embeds[1:].abs().sum() == 0
    assert all(torch.isfinite(o).all() for o in out)
    with pytest.raises(ValueError, match='Every vocabulary of the batch'):
        neck(feats(batch=2), [[], ['']])


def test_visual_gate_is_one_element_and_old_checkpoints_load():
    """FSDP refuses 0-d parameters: the per-image gate is a ``(1, )``
    vector; a checkpoint that saved it 0-d still loads (strict)."""
    cfg = dict(visual_prefix=dict(num_visual_tokens=2, in_channels=8,
                                  mode='per_image', init_gate=0.25))
    neck = make_neck(**cfg)
    assert neck.visual_gate.shape == (1, )
    assert neck.visual_gate.tolist() == [0.25]
    old = neck.state_dict()
    old['visual_gate'] = torch.tensor(0.5)  # as written before
    fresh = make_neck(**cfg)
    fresh.load_state_dict(old)
    assert fresh.visual_gate.shape == (1, )
    assert fresh.visual_gate.tolist() == [0.5]
