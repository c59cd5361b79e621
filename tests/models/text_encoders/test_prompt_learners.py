"""Prompt learners: shared, per-class and deep (key/value) prefixes."""
import pytest
import torch
from torch import nn

from mmvlm.models.text_encoders import (ClassPromptPrefix, DeepPromptPrefix,
                                        HFTextEncoder, PromptPrefix)
from mmvlm.models.text_encoders.prompt_learners import (build_deep_prefix,
                                                        build_prompt_prefix)
from mmvlm.testing import build_tiny_bpe_tokenizer, tiny_text_encoder_cfg


def tiny_encoder(arch, **kwargs):
    cfg = tiny_text_encoder_cfg(arch, **kwargs)
    cfg.pop('type')
    torch.manual_seed(0)
    return HFTextEncoder(**cfg)


def test_shared_prefix_shapes():
    learner = PromptPrefix(torch.randn(3, 8))
    assert learner.length == 3 and learner.slot(('cat', )) == -1
    out = learner(torch.tensor([-1, 0, 5, -1]))
    assert out.shape == (4, 3, 8)
    torch.testing.assert_close(out[2], learner.embeddings)


def test_class_prefix_slots_and_mean_fallback():
    learner = ClassPromptPrefix(torch.randn(2, 4), ['cat', 'dog'])
    assert learner.embeddings.shape == (2, 2, 4) and learner.length == 2
    with torch.no_grad():
        learner.embeddings[1] += 1.0
    assert learner.slot(('dog', 'puppy')) == 1
    assert learner.slot(('zebra', )) == -1 and learner.slot(()) == -1
    out = learner(torch.tensor([1, 0, -1]))
    torch.testing.assert_close(out[0], learner.embeddings[1])
    torch.testing.assert_close(out[1], learner.embeddings[0])
    torch.testing.assert_close(out[2], learner.embeddings.mean(0))


def test_build_prompt_prefix_from_phrase_and_errors():
    tokenizer = build_tiny_bpe_tokenizer()
    table = nn.Embedding(len(tokenizer), 8)
    ids = tokenizer('a photo of a', add_special_tokens=False)['input_ids']
    learner = build_prompt_prefix(0, 'a photo of a', None, table, tokenizer)
    assert type(learner) is PromptPrefix and learner.length == len(ids)
    torch.testing.assert_close(learner.embeddings.data, table.weight[ids])
    per_class = build_prompt_prefix(2, None, ['cat', 'dog'], table, tokenizer)
    assert isinstance(per_class, ClassPromptPrefix)
    assert build_prompt_prefix(0, None, None, table, tokenizer) is None
    with pytest.raises(ValueError, match='prefix_classes needs a prefix'):
        build_prompt_prefix(0, None, ['cat'], table, tokenizer)
    with pytest.raises(ValueError, match='prefix_length must be >= 0'):
        build_prompt_prefix(-1, None, None, table, tokenizer)
    with pytest.raises(ValueError, match='ToyLM has no usable'):
        build_prompt_prefix(2, None, None, None, tokenizer, 'ToyLM')


@pytest.mark.parametrize('arch', ['gpt2', 'llama'])
def test_deep_prefix_feeds_a_cache_the_model_consumes(arch):
    encoder = tiny_encoder(arch)
    learner = build_deep_prefix(3, encoder.lm)
    assert isinstance(learner, DeepPromptPrefix) and learner.length == 3
    assert learner.key_values.shape[:2] == (2, 2)  # layers x (key, value)
    mask = torch.ones(2, 5, dtype=torch.long)
    kwargs = learner(mask, encoder.lm.config, torch.float32)
    assert kwargs['attention_mask'].shape == (2, 8)
    ids = torch.ones(2, 5, dtype=torch.long)
    encoder.lm(input_ids=ids, use_cache=True, **kwargs)
    learner.check_consumed(kwargs, encoder.lm)  # the cache grew to 8
    unused = learner(mask, encoder.lm.config, torch.float32)
    with pytest.raises(RuntimeError, match='ignored the deep-prefix'):
        learner.check_consumed(unused, encoder.lm)


def test_deep_prefix_refuses_encoders_and_negative_lengths():
    bert = tiny_encoder('bert')
    assert build_deep_prefix(0, bert.lm) is None
    with pytest.raises(ValueError, match='decoder-only LM'):
        build_deep_prefix(2, bert.lm)
    with pytest.raises(ValueError, match='must be >= 0'):
        build_deep_prefix(-1, bert.lm)


def test_encoder_checkpoints_keep_flat_prefix_keys():
    encoder = tiny_encoder('llama', prefix_length=2, deep_prefix_length=2)
    assert encoder.prefix is encoder.prompt_prefix.embeddings
    assert encoder.deep_prefix is encoder.kv_prefix.key_values
    state = encoder.state_dict()
    assert {'prefix', 'deep_prefix'} <= set(state)
    assert not any(k.startswith(('prompt_prefix', 'kv_prefix')) for k in state)
    fresh = tiny_encoder('llama', prefix_length=2, deep_prefix_length=2)
    with torch.no_grad():
        fresh.prefix.zero_()
    result = fresh.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    torch.testing.assert_close(fresh.prefix, encoder.prefix)


def test_prefix_key_of_a_checkpoint_without_that_learner_is_unexpected():
    state = tiny_encoder('gpt2', prefix_length=2).state_dict()
    plain = tiny_encoder('gpt2')
    result = plain.load_state_dict(state, strict=False)
    assert result.unexpected_keys == ['prefix']
