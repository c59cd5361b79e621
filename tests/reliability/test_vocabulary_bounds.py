"""Bounded vocabularies: names x synonyms x templates has a limit checked
before anything is encoded, prompts files have a size limit checked before
they are read, large vocabularies are encoded chunk by chunk with progress,
and the exported (numpy) text encoder follows the same rules."""
import json
from unittest import mock

import numpy as np
import pytest
import torch

import mmvlm.models.text_encoders.hf_text_encoder as hf_text_encoder
from mmvlm.deployment import runtime
from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.structures import (MAX_PROMPTS, Vocabulary, check_prompt_count,
                              load_prompts_file, max_prompts)
from mmvlm.testing import tiny_text_encoder_cfg


@pytest.fixture(scope='module')
def encoder():
    return _build(templates=['a {}.', 'the {}.']).eval()


def _build(**overrides) -> HFTextEncoder:
    cfg = tiny_text_encoder_cfg('bert', **overrides)
    cfg.pop('type')
    return HFTextEncoder(**cfg)


def test_limit_is_documented_and_configurable(monkeypatch):
    monkeypatch.delenv('MMVLM_MAX_PROMPTS', raising=False)
    assert max_prompts() == MAX_PROMPTS == runtime.MAX_PROMPTS == 200_000
    monkeypatch.setenv('MMVLM_MAX_PROMPTS', '12')
    assert max_prompts() == runtime.max_prompts() == 12
    assert check_prompt_count([('a', 'b'), 'c'], 4) == 12
    with pytest.raises(ValueError) as info:
        check_prompt_count([('a', 'b'), 'c', 'd'], 4)
    message = str(info.value)
    assert '16 prompts' in message and 'limit of 12' in message
    assert 'MMVLM_MAX_PROMPTS=16' in message
    monkeypatch.setenv('MMVLM_MAX_PROMPTS', 'lots')
    with pytest.raises(ValueError, match="MMVLM_MAX_PROMPTS='lots'"):
        max_prompts()


def test_text_encoder_refuses_before_encoding(encoder, monkeypatch):
    """1,000 synonyms x 1,000 templates (the issue's 17 KB YAML) is refused
    at once: no language-model call."""
    monkeypatch.delenv('MMVLM_MAX_PROMPTS', raising=False)
    synonyms = tuple(f'tree {i}' for i in range(1000))
    encoder.templates = tuple(f'{{}} number {i}' for i in range(1000))
    calls = encoder.lm_calls
    try:
        with pytest.raises(ValueError, match='1,000,000 prompts'):
            encoder.encode_vocabulary([synonyms])
    finally:
        encoder.templates = ('a {}.', 'the {}.')
    assert encoder.lm_calls == calls


def test_chunked_encoding_equals_one_pass_and_logs_progress(
        encoder, monkeypatch):
    names = [f'class {i}' for i in range(23)] + [('car', 'automobile'), '']
    with torch.no_grad():
        want = encoder.encode_vocabulary(names)
        encoder.invalidate_cache()
        monkeypatch.setattr(hf_text_encoder, 'ENCODE_CHUNK', 5)
        monkeypatch.setattr(hf_text_encoder, 'PROGRESS_AFTER_S', -1.0)
        with mock.patch.object(hf_text_encoder, 'print_log') as log:
            got = encoder.encode_vocabulary(names)
    assert got.shape == want.shape == (25, 32)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert torch.all(got[-1] == 0)  # padding stays a zero vector
    lines = [c[0][0] for c in log.call_args_list]
    assert lines and '50 / 50 prompts' in lines[-1]
    # gradients still reach a learnable prefix through the chunks
    prefixed = _build(prefix_length=2)
    prefixed.train()
    prefixed.encode_vocabulary(names[:12]).sum().backward()
    assert prefixed.prefix.grad is not None
    assert prefixed.prefix.grad.abs().sum() > 0


def test_prompts_file_size_and_prompt_limits(tmp_path, monkeypatch):
    path = tmp_path / 'prompts.yaml'
    path.write_text('classes:\n' + ''.join(f'  - name: c{i}\n'
                                            for i in range(200)))
    monkeypatch.setenv('MMVLM_MAX_PROMPTS_FILE_MB', '0.001')
    with mock.patch('yaml.load') as parse:
        with pytest.raises(ValueError) as info:
            load_prompts_file(str(path))
    parse.assert_not_called()  # refused before parsing
    assert str(path) in str(info.value)
    assert 'MMVLM_MAX_PROMPTS_FILE_MB=' in str(info.value)
    monkeypatch.delenv('MMVLM_MAX_PROMPTS_FILE_MB')
    assert len(load_prompts_file(str(path)).classes) == 200
    # 10 synonyms x 30 templates in a tiny file: refused before expansion
    big = tmp_path / 'synonyms.json'
    big.write_text(json.dumps(dict(
        classes=[dict(name='tree', synonyms=[f's{i}' for i in range(10)])],
        templates=[f'{{}} {i}' for i in range(30)])))
    monkeypatch.setenv('MMVLM_MAX_PROMPTS', '100')
    with pytest.raises(ValueError) as info:
        Vocabulary.parse(str(big))
    assert f"Prompts file '{big}' expands to 330 prompts" in str(info.value)


def test_class_text_file_size_limit(tmp_path, monkeypatch):
    from mmvlm.datasets.class_texts import load_class_texts
    path = tmp_path / 'texts.json'
    path.write_text(json.dumps([['tree'], ['bush']] * 100))
    monkeypatch.setenv('MMVLM_MAX_PROMPTS_FILE_MB', '0.001')
    with pytest.raises(ValueError, match='Class-text file .* was not read'):
        load_class_texts(str(path))


class _FakeTextSession:
    """Stands in for text_encoder.onnx: a fixed vector per prompt."""

    def __init__(self):
        self.calls = []

    def __call__(self, prompts):
        self.calls.append(len(prompts))
        rows = [np.random.RandomState(sum(map(ord, p))).randn(8)
                for p in prompts]
        rows = np.asarray(rows, np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_runtime_text_encoder_streams_and_is_bounded(monkeypatch, capsys):
    encoder = object.__new__(runtime.TextEncoder)
    encoder.spec = dict(templates=['a {}.', 'the {}.'])
    fake = _FakeTextSession()
    encoder.encode_prompts = fake
    vocab = ['cat', ('dog', 'puppy'), 'car']
    prompts, owners = runtime.expand_prompts(vocab, encoder.spec['templates'])
    embeds = fake(prompts)
    want = np.zeros((3, 8), np.float32)
    np.add.at(want, owners, embeds)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    fake.calls.clear()
    monkeypatch.setattr(runtime, 'TEXT_BATCH', 3)
    monkeypatch.setattr(runtime, 'PROGRESS_AFTER_S', -1.0)
    got = encoder(vocab)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert fake.calls == [3, 3, 2]
    assert 'encoded 8 / 8 prompts' in capsys.readouterr().err
    monkeypatch.setenv('MMVLM_MAX_PROMPTS', '7')
    with pytest.raises(ValueError, match='8 prompts.*MMVLM_MAX_PROMPTS=8'):
        encoder(vocab)
    assert fake.calls == [3, 3, 2]  # nothing encoded
    monkeypatch.delenv('MMVLM_MAX_PROMPTS')
    for name in ('\x00\x00', '\u200b', '  ', 'tr\x07ee'):
        with pytest.raises(ValueError, match='invisible'):
            encoder(['cat', name])
    # the same rule as check_synonyms: visible non-printable names pass
    assert encoder(['New\u00a0York', 'می\u200cخواهم']).shape == (2, 8)
