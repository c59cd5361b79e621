"""FrozenPrefixLM: KV-cached class scoring equals the naive re-run, the
loss trains only the visual tokens, generate() writes text."""
import pytest
import torch

from mmvlm.models.layers.frozen_visual_prefix import (FrozenPrefixLM,
                                                      output_embedding_weight)
from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.testing import tiny_text_encoder_cfg

NAMES = [
    'dog', 'cat', 'red car', 'bicycle', 'large blue bus', 'puppy', 'sky',
    'a small red bird on a tree'
]


def tiny_lm(arch: str) -> HFTextEncoder:
    """A tiny random causal LM with a tied output head."""
    torch.manual_seed(0)
    overrides = dict(hf_config=dict(tie_word_embeddings=True))
    cfg = tiny_text_encoder_cfg(arch, embed_dims=None, **overrides)
    cfg.pop('type')
    return HFTextEncoder(**cfg)


@pytest.fixture(scope='module', params=['llama', 'gpt2'])
def encoder(request):
    return tiny_lm(request.param)


@pytest.mark.parametrize('normalize', ['sum', 'mean'])
def test_cached_scores_equal_naive_rerun(encoder, normalize):
    scorer = FrozenPrefixLM(encoder.lm,
                            encoder.tokenizer,
                            normalize=normalize,
                            names_per_chunk=3)
    visual = torch.randn(3, 4, encoder.hidden_size) * 0.5
    with torch.no_grad():
        cached = scorer.score_names(visual, NAMES)
        naive = scorer.score_names_naive(visual, NAMES)
    assert cached.shape == (3, len(NAMES))
    torch.testing.assert_close(cached, naive, atol=1e-4, rtol=0)
    # Scores are real log-likelihoods: negative, and they depend on the
    # image and on the name.
    assert (cached < 0).all()
    assert cached[0].std() > 0 and (cached[0] - cached[1]).abs().max() > 0


def test_scores_equal_explicit_sequence_log_likelihood(encoder):
    """The score of a name is the sum of the LM's log-probabilities of its
    tokens (and EOS) after [BOS] [visual] [prompt], computed here by hand."""
    scorer = FrozenPrefixLM(encoder.lm, encoder.tokenizer, prompt='a photo')
    visual = torch.randn(1, 2, encoder.hidden_size) * 0.5
    head, prompt = scorer.prompt_ids()
    name = scorer.name_ids('dog')
    table = encoder.lm.get_input_embeddings()
    seq = torch.cat([
        table(torch.tensor([head], dtype=torch.long)).reshape(1, -1, 32),
        visual,
        table(torch.tensor([prompt + name]))
    ],
                    dim=1)
    with torch.no_grad():
        hidden = encoder.lm(inputs_embeds=seq).last_hidden_state
        logp = (hidden @ table.weight.t()).log_softmax(-1)[0]
        start = seq.shape[1] - len(name)
        expected = sum(logp[start - 1 + i, t] for i, t in enumerate(name))
        got = scorer.score_names(visual, ['dog'])[0, 0]
    assert abs(float(got) - float(expected)) < 1e-4
    assert name[-1] == encoder.tokenizer.eos_token_id


def test_loss_trains_only_visual_tokens(encoder):
    scorer = FrozenPrefixLM(encoder.lm, encoder.tokenizer)
    visual = (torch.randn(2, 4, encoder.hidden_size) * 0.5).requires_grad_()
    loss = scorer.loss(visual, ['dog', 'red car'])
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert visual.grad is not None and visual.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.lm.parameters())
    # A few steps on the visual tokens alone raise the target's score.
    opt = torch.optim.Adam([visual], lr=0.1)
    before = scorer.score_names(visual.detach(), ['dog', 'cat'])[0]
    for _ in range(10):
        opt.zero_grad()
        scorer.loss(visual[:1], ['dog']).backward()
        opt.step()
    after = scorer.score_names(visual.detach(), ['dog', 'cat'])[0]
    assert after[0] - after[1] > before[0] - before[1]


def test_generate_greedy_and_beam(encoder):
    scorer = FrozenPrefixLM(encoder.lm, encoder.tokenizer)
    visual = torch.randn(2, 4, encoder.hidden_size) * 0.5
    greedy = scorer.generate(visual, max_new_tokens=5)
    beam = scorer.generate(visual, max_new_tokens=5, num_beams=3)
    assert len(greedy) == len(beam) == 2
    assert all(isinstance(t, str) for t in greedy + beam)
    # Greedy is the arg-max path: its first token is the most likely one.
    head, prompt = scorer.prompt_ids()
    with torch.no_grad():
        hidden, _ = scorer._run(scorer.prefix_embeds(visual[:1]))
        first = int(scorer._log_probs(hidden[0, -1]).argmax())
    eos = encoder.tokenizer.eos_token_id
    if first != eos:
        assert greedy[0].startswith(
            encoder.tokenizer.decode([first]).strip()[:1])
    with pytest.raises(ValueError, match='max_new_tokens'):
        scorer.generate(visual, max_new_tokens=0)


def test_bad_inputs_have_clear_errors(encoder):
    scorer = FrozenPrefixLM(encoder.lm, encoder.tokenizer)
    with pytest.raises(ValueError, match=r'\[B, V, 32\]'):
        scorer.score_names(torch.randn(1, 4, 7), ['dog'])
    with pytest.raises(ValueError, match='non-empty'):
        scorer.score_names(torch.randn(1, 4, 32), ['dog', ' '])
    with pytest.raises(ValueError, match='normalize'):
        FrozenPrefixLM(encoder.lm, encoder.tokenizer, normalize='max')
    with pytest.raises(ValueError, match='2 targets'):
        scorer.loss(torch.randn(1, 4, 32), ['dog', 'cat'])


def test_untied_head_is_refused():
    torch.manual_seed(0)
    cfg = tiny_text_encoder_cfg('llama',
                                embed_dims=None,
                                hf_config=dict(tie_word_embeddings=False))
    cfg.pop('type')
    encoder = HFTextEncoder(**cfg)
    with pytest.raises(ValueError, match='not tied'):
        output_embedding_weight(encoder.lm)


def test_encoder_lm_is_refused():
    cfg = tiny_text_encoder_cfg('bert', embed_dims=None)
    cfg.pop('type')
    encoder = HFTextEncoder(**cfg)
    with pytest.raises(ValueError, match='decoder-only'):
        FrozenPrefixLM(encoder.lm, encoder.tokenizer)
