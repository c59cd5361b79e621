"""mmvlm.models.text_encoders.gguf_conversion and the alias that prefers
its output."""
import pytest
import torch

from mmvlm.models.text_encoders import HFTextEncoder, resolve_model_source
from mmvlm.models.text_encoders import gguf_conversion


def test_save_dequantized_round_trips_a_tied_llama(tmp_path):
    from transformers import AutoModelForCausalLM, LlamaConfig
    config = LlamaConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=32, vocab_size=64,
        tie_word_embeddings=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    out = str(tmp_path / 'converted')
    import os
    os.makedirs(out)
    gguf_conversion.save_dequantized(model, out)
    loaded = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_alias_prefers_the_converted_folder(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, LlamaConfig
    from mmvlm.testing import build_tiny_bpe_tokenizer
    monkeypatch.setenv('MMVLM_CACHE', str(tmp_path))
    folder = tmp_path / 'smollm2-135m-instruct'
    tokenizer = build_tiny_bpe_tokenizer(add_bos=True)
    config = LlamaConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=32,
        vocab_size=len(tokenizer), tie_word_embeddings=True)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    source = resolve_model_source('smollm2-135m')
    assert source.path == str(folder) and source.gguf_file is None
    encoder = HFTextEncoder(name_or_path='smollm2-135m', embed_dims=8)
    assert encoder.hidden_size == 16 and encoder.pooling == 'last'
    assert encoder.encode_vocabulary(['dog', 'cat']).shape == (2, 8)


def test_resolve_rejects_unknown_source(tmp_path):
    with pytest.raises(ValueError, match='neither'):
        gguf_conversion.resolve_gguf_source(str(tmp_path / 'nothing.bin'))
    with pytest.raises(ValueError, match='--out is required'):
        gguf = tmp_path / 'm.gguf'
        gguf.write_bytes(b'')
        gguf_conversion.resolve_gguf_source(str(gguf))


def test_convert_never_trusts_remote_code(tmp_path, monkeypatch):
    """Both loads say trust_remote_code=False, so a folder whose config
    names code is refused instead of falling to transformers' prompt."""
    import transformers
    from transformers import LlamaConfig

    from mmvlm.testing import build_tiny_bpe_tokenizer
    calls = []
    tokenizer = build_tiny_bpe_tokenizer(add_bos=True)
    config = LlamaConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, intermediate_size=32,
        vocab_size=len(tokenizer), tie_word_embeddings=True)

    def fake_model(folder, **kwargs):
        calls.append(('model', kwargs))
        return transformers.AutoModelForCausalLM.from_config(config)

    def fake_tokenizer(folder, **kwargs):
        calls.append(('tokenizer', kwargs))
        return tokenizer

    monkeypatch.setattr(transformers.AutoModelForCausalLM, 'from_pretrained',
                        fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, 'from_pretrained',
                        fake_tokenizer)
    out = gguf_conversion.convert(str(tmp_path), 'm.gguf',
                                  str(tmp_path / 'converted'))
    assert (tmp_path / 'converted' / 'model.safetensors').is_file(), out
    assert [kind for kind, _ in calls] == ['model', 'tokenizer']
    for kind, kwargs in calls:
        assert kwargs.get('trust_remote_code', None) is False, (kind, kwargs)
        assert kwargs['local_files_only'] is True
