"""hf_compat finds what a transformers model accepts from the model itself."""
from typing import Optional

import pytest
import torch
from torch import nn
from transformers import (AutoModel, DynamicCache, GPT2Config, LlamaConfig)
from transformers.cache_utils import Cache

from mmvlm.models.text_encoders.hf_compat import (cache_argument,
                                                  check_cache_consumed,
                                                  default_lora_targets,
                                                  expand_prefix,
                                                  forward_arguments,
                                                  new_prefix_cache)


def _tiny(kind: str) -> nn.Module:
    if kind == 'gpt2':
        config = GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=50,
                            n_positions=32, bos_token_id=0,
                            eos_token_id=0)
    else:
        config = LlamaConfig(hidden_size=16, intermediate_size=32,
                             num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=1, vocab_size=50,
                             max_position_embeddings=32)
    return AutoModel.from_config(config).eval()


class _OldStyle(nn.Module):
    """A decoder as transformers <= 5.23 wrote it."""

    def forward(self, input_ids=None,
                past_key_values: Optional[Cache] = None, use_cache=None,
                **kwargs):
        return input_ids


class _NewStyle(nn.Module):
    """A decoder as transformers 5.24 writes it."""

    def forward(self, input_ids=None, cache: 'Cache | None' = None,
                use_cache=None, **kwargs):
        return input_ids


class _Unannotated(nn.Module):

    def forward(self, input_ids=None, past_key_values=None, **kwargs):
        return input_ids


class _Encoder(nn.Module):

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return input_ids


@pytest.mark.parametrize('module, expected',
                         [(_OldStyle(), 'past_key_values'),
                          (_NewStyle(), 'cache'),
                          (_Unannotated(), 'past_key_values'),
                          (_Encoder(), None)])
def test_cache_argument_from_signature(module, expected):
    assert cache_argument(module) == expected


def test_forward_arguments_leave_out_var_keyword():
    names = forward_arguments(_NewStyle())
    assert names == {'input_ids', 'cache', 'use_cache'}


@pytest.mark.parametrize('kind', ['gpt2', 'llama'])
def test_installed_transformers_models_take_the_found_cache(kind):
    """The argument found for this release really feeds the cache."""
    torch.manual_seed(0)
    model = _tiny(kind)
    name = cache_argument(model)
    assert name is not None and name in forward_arguments(model)
    config = model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, 'num_key_value_heads', None) or heads
    head_dim = config.hidden_size // heads
    prefix = torch.randn(config.num_hidden_layers, 2, kv_heads, 3, head_dim)
    keys, values = expand_prefix(prefix, 2, torch.float32)
    assert keys.shape == (config.num_hidden_layers, 2, kv_heads, 3, head_dim)
    cache = new_prefix_cache(config, keys, values)
    assert cache.get_seq_length() == 3
    ids = torch.randint(0, 50, (2, 4))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones(2, 7).long(),
                    use_cache=True, **{name: cache})
    check_cache_consumed(cache, 7, model, name)
    # The prefix changes the output: the cache was read, not only written.
    with torch.no_grad():
        plain = model(input_ids=ids).last_hidden_state
    assert not torch.allclose(out.last_hidden_state, plain)


def test_ignored_cache_is_an_error_naming_the_argument():
    cache = DynamicCache()
    cache.update(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), 0)
    with pytest.raises(RuntimeError, match=r'passed as past_key_values=.*'
                       r'holds 2 positions.*expected 5'):
        check_cache_consumed(cache, 5, _NewStyle(), 'past_key_values')


def test_default_lora_targets():
    targets = default_lora_targets('llama')
    assert targets is not None and 'q_proj' in targets
    assert default_lora_targets('no-such-model-type') is None
