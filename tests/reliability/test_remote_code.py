"""Code shipped with a model folder never runs unless the config says so.

A model folder whose ``config.json`` / ``tokenizer_config.json`` carry an
``auto_map`` pointing at ``evil.py`` (which creates a marker file when
imported) is refused with an error naming ``trust_remote_code``; transformers
is always given ``trust_remote_code`` explicitly (False by default), so it
never asks on stdin: an answer of ``y`` piped in (the issue's ``echo y |``)
is never read, and nothing waits for one.
"""
import builtins
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import transformers

from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.models.text_encoders.hf_loading import (_pretrained_kwargs,
                                                   build_language_model,
                                                   build_tokenizer)
from mmvlm.models.text_encoders.model_sources import ModelSource
from mmvlm.testing.tiny_models import (build_tiny_bpe_tokenizer,
                                       tiny_text_encoder_cfg)

ROOT = Path(__file__).resolve().parents[2]


def _model_folder(root: Path, auto_map: bool) -> Path:
    """A tiny GPT-2 saved with its tokenizer; with ``auto_map`` its json
    files name ``evil.py``, which writes ``root/ran`` when imported."""
    folder = root / ('evil_model' if auto_map else 'plain_model')
    hf_config = tiny_text_encoder_cfg('gpt2')['hf_config']
    kind = hf_config.pop('model_type')
    tokenizer = build_tiny_bpe_tokenizer()
    config = transformers.AutoConfig.for_model(
        kind, vocab_size=len(tokenizer), **hf_config)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if auto_map:
        (folder / 'evil.py').write_text(textwrap.dedent(f'''
            open({str(root / 'ran')!r}, 'w').write('code from the folder')
            from transformers import GPT2Config, GPT2Model
            from transformers import PreTrainedTokenizerFast

            class EvilConfig(GPT2Config):
                model_type = 'gpt2'

            class EvilModel(GPT2Model):
                config_class = EvilConfig

            class EvilTokenizer(PreTrainedTokenizerFast):
                pass
        '''))
        for name, entry in (('config.json', {
                'AutoConfig': 'evil.EvilConfig',
                'AutoModel': 'evil.EvilModel'
        }), ('tokenizer_config.json', {
                'AutoTokenizer': [None, 'evil.EvilTokenizer']
        })):
            path = folder / name
            data = json.loads(path.read_text())
            data['auto_map'] = entry
            path.write_text(json.dumps(data))
    return folder


@pytest.fixture
def no_prompt(monkeypatch):
    """Answer 'y' to any prompt, and record that one was made."""
    asked = []

    def answer(*args, **kwargs):
        asked.append(args)
        return 'y'

    monkeypatch.setattr(builtins, 'input', answer)
    return asked


def test_folder_with_code_is_refused_naming_the_option(tmp_path, no_prompt):
    folder = _model_folder(tmp_path, auto_map=True)
    with pytest.raises(ValueError) as info:
        HFTextEncoder(name_or_path=str(folder), embed_dims=8)
    message = str(info.value)
    assert str(folder) in message and 'evil.EvilTokenizer' in message
    assert 'trust_remote_code=True' in message
    assert 'model.neck.text_encoder.trust_remote_code=True' in message
    # a separate tokenizer: the model's config.json is refused the same way
    with pytest.raises(ValueError, match='config.json: auto_map=') as info:
        build_language_model(str(folder), None, None)
    assert 'evil.EvilModel' in str(info.value)
    with pytest.raises(ValueError, match='trust_remote_code=True'):
        build_tokenizer(None, name_or_path=str(folder))
    assert not (tmp_path / 'ran').exists()
    assert no_prompt == []


def test_transformers_never_runs_it_with_the_explicit_false(
        tmp_path, no_prompt):
    """Without mmvlm's own check, the explicit ``trust_remote_code=False``
    alone keeps transformers from running the folder's code and from
    asking: a known ``model_type`` loads the stock class, an unknown one
    is an error."""
    folder = _model_folder(tmp_path, auto_map=True)
    kwargs = _pretrained_kwargs(ModelSource(str(folder)), True, None)
    assert kwargs['trust_remote_code'] is False
    config = transformers.AutoConfig.from_pretrained(str(folder), **kwargs)
    assert type(config) is transformers.GPT2Config
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(folder), **kwargs)
    assert type(tokenizer).__name__ != 'EvilTokenizer'
    path = folder / 'config.json'
    path.write_text(path.read_text().replace('"gpt2"', '"evil-gpt"'))
    with pytest.raises(ValueError, match='trust_remote_code'):
        transformers.AutoConfig.from_pretrained(str(folder), **kwargs)
    assert not (tmp_path / 'ran').exists()
    assert no_prompt == []


def test_trust_remote_code_is_always_passed_explicitly(tmp_path,
                                                       monkeypatch):
    folder = _model_folder(tmp_path, auto_map=False)
    seen = []
    for cls in (transformers.AutoConfig, transformers.AutoModel,
                transformers.AutoTokenizer):
        real = cls.from_pretrained.__func__

        def spy(klass, *args, _real=real, _name=cls.__name__, **kwargs):
            seen.append((_name, kwargs.get('trust_remote_code', 'absent')))
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, 'from_pretrained', classmethod(spy))
    HFTextEncoder(name_or_path=str(folder), embed_dims=8)
    # (transformers' own nested calls included)
    assert set(seen) == {('AutoConfig', False), ('AutoModel', False),
                         ('AutoTokenizer', False)}
    seen.clear()
    HFTextEncoder(name_or_path=str(folder), embed_dims=8,
                  trust_remote_code=True)
    assert set(seen) == {('AutoConfig', True), ('AutoModel', True),
                         ('AutoTokenizer', True)}
    with pytest.raises(TypeError, match="trust_remote_code='no' must be"):
        HFTextEncoder(name_or_path=str(folder), trust_remote_code='no')


def test_piped_yes_does_not_run_the_code(tmp_path):
    """The issue's attack: ``echo y | python ...`` loading the folder."""
    folder = _model_folder(tmp_path, auto_map=True)
    script = textwrap.dedent(f'''
        from mmvlm.models.text_encoders import HFTextEncoder
        try:
            HFTextEncoder(name_or_path={str(folder)!r}, embed_dims=8)
        except ValueError as error:
            print('REFUSED', error)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], input='y\n',
                          capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={'PYTHONPATH': str(ROOT),
                                             'OMP_NUM_THREADS': '1',
                                             'HF_HUB_OFFLINE': '1',
                                             'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'REFUSED' in proc.stdout and 'trust_remote_code=True' in \
        proc.stdout
    assert 'Do you wish to run the custom code' not in proc.stdout + \
        proc.stderr
    assert not (tmp_path / 'ran').exists()
