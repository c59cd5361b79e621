"""Tokenizer / model loading of the text encoder (tiny models, offline)."""
import subprocess
import sys
import textwrap

import pytest
import torch

from mmvlm.models.text_encoders import TOKENIZERS, HFTextEncoder
from mmvlm.models.text_encoders.hf_loading import (build_tokenizer,
                                                   resolve_max_length,
                                                   resolve_torch_dtype)
from mmvlm.testing import (build_tiny_bpe_tokenizer, tiny_bpe_tokenizer_cfg,
                           tiny_text_encoder_cfg)

GPT2 = tiny_text_encoder_cfg('gpt2')['hf_config']


def encode(tokenizer):
    torch.manual_seed(0)
    encoder = HFTextEncoder(hf_config=GPT2, tokenizer=tokenizer, embed_dims=8)
    return encoder.encode_vocabulary(['cat', 'a bowl of soup'])


def test_tokenizer_as_name_object_or_config_gives_the_same_encoder():
    by_name = encode('tiny-bpe')  # registered by mmvlm.testing
    by_object = encode(build_tiny_bpe_tokenizer())
    by_config = encode(tiny_bpe_tokenizer_cfg())
    torch.testing.assert_close(by_object, by_name)
    torch.testing.assert_close(by_config, by_name)
    assert tiny_bpe_tokenizer_cfg()['type'] == \
        'mmvlm.testing.build_tiny_bpe_tokenizer'
    assert {'tiny-bpe', 'tiny-bpe-bos'} <= set(TOKENIZERS.module_dict)


def test_tokenizer_object_gets_a_pad_token_and_padding_side():
    tok = build_tiny_bpe_tokenizer()
    assert tok.pad_token is None
    built = build_tokenizer(tok, padding_side='left')
    assert built is tok and tok.pad_token == tok.eos_token
    assert tok.padding_side == 'left'


def test_bad_tokenizers():
    with pytest.raises(TypeError, match='got int'):
        build_tokenizer(3)
    with pytest.raises(FileNotFoundError, match='registered by name'):
        build_tokenizer('no-such-tokenizer')
    with pytest.raises(TypeError, match='not a PreTrainedTokenizerBase'):
        build_tokenizer(dict(type='builtins.dict'))
    with pytest.raises(ValueError, match="padding_side='middle'"):
        build_tokenizer(build_tiny_bpe_tokenizer(), padding_side='middle')


def test_dtype_and_max_length():
    assert resolve_torch_dtype(None) is None
    assert resolve_torch_dtype('bf16') is torch.bfloat16
    with pytest.raises(ValueError, match="torch_dtype='int8'"):
        resolve_torch_dtype('int8')
    from transformers import GPT2Config
    config = GPT2Config(n_positions=64)
    tok = build_tiny_bpe_tokenizer()
    assert resolve_max_length(config, tok, None) == 64
    assert resolve_max_length(config, tok, 16) == 16


def test_production_code_never_imports_the_test_package():
    """``import mmvlm`` leaves mmvlm.testing alone; a test tokenizer name
    then fails with a hint, its dotted-path config works."""
    code = textwrap.dedent('''
        import sys
        import mmvlm
        from mmvlm.models.text_encoders import HFTextEncoder
        assert 'mmvlm.testing' not in sys.modules
        hf_config = dict(model_type='gpt2', n_embd=8, n_layer=1, n_head=2,
                         n_positions=32)
        try:
            HFTextEncoder(hf_config=hf_config, tokenizer='tiny-bpe')
        except FileNotFoundError as err:
            assert 'TOKENIZERS' in str(err), err
        else:
            raise AssertionError('tiny-bpe resolved without mmvlm.testing')
        tokenizer = dict(type='mmvlm.testing.build_tiny_bpe_tokenizer')
        HFTextEncoder(hf_config=hf_config, tokenizer=tokenizer)
        print('ok')
    ''')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0 and 'ok' in proc.stdout, proc.stderr[-3000:]


def test_random_language_model_is_the_same_whatever_the_global_seed():
    """A frozen LM stays out of checkpoints and is rebuilt from its config,
    so a random one must not depend on the caller's random state."""
    tok = tiny_text_encoder_cfg('gpt2')['tokenizer']
    torch.manual_seed(1)
    a = HFTextEncoder(hf_config=GPT2, tokenizer=tok, embed_dims=8)
    torch.manual_seed(2)
    b = HFTextEncoder(hf_config=GPT2, tokenizer=tok, embed_dims=8)
    c = HFTextEncoder(
        hf_config=dict(GPT2, init_seed=3), tokenizer=tok, embed_dims=8)
    for (name, p), q, r in zip(a.lm.state_dict().items(),
                               b.lm.state_dict().values(),
                               c.lm.state_dict().values()):
        assert torch.equal(p, q), name
    assert any(not torch.equal(p, r) for p, r in zip(
        a.lm.state_dict().values(), c.lm.state_dict().values()))
    with pytest.raises(ValueError, match='init_seed'):
        HFTextEncoder(hf_config=dict(GPT2, init_seed='x'),
                      tokenizer=tok)
