"""Offline: every shipped config builds with all sockets refused.

Each config of ``configs/`` and ``projects/demo/configs/`` is loaded as
``tools/train.py`` loads it (``load_config``) and its model is built, text
encoder and language model included, under :func:`no_network` (socket
``connect`` / ``create_connection`` raise, ``HF_HUB_OFFLINE=1``). The
configs whose language model is a GGUF file (SmolLM2) take ~40 s each to
dequantise on the CI machine; for them the test loads the config and
resolves the model to its local package file, and the full build was run
by hand (docs/reliability.md). A short train, resume and test run under the
same guard is ``tests/tools/test_train_reliability.py::
test_resume_4_to_8_equals_uninterrupted_8``.
"""
import importlib
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip('mmdet')

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIRS = (ROOT / 'configs', ROOT / 'projects' / 'demo' / 'configs')
#: The only packages whose absence skips a config, with the documented
#: reason: mmpretrain is not part of the main environment.
OPTIONAL_DEPENDENCIES = {
    'mmpretrain':
    'mmpretrain is not installed in this environment; the image-level '
    'models live in the optional .venv-mmpretrain (docs/image_level.md)',
}


def shipped_configs():
    return sorted(
        p for d in CONFIG_DIRS for p in d.rglob('*.py')
        if '_base_' not in p.relative_to(d).parts)


def load_or_skip(path: Path):
    """The config as ``tools/train.py`` loads it; skipped only when a
    documented optional dependency is missing, any other missing module
    fails (a renamed module, a dependency the environment lost)."""
    from mmvlm.utils import load_config
    try:
        return load_config(str(path), work_dir='/tmp/unused')
    except ModuleNotFoundError as err:
        # mmengine names a missing ``scope::`` base's package only in words
        missing = (err.name or '').split('.')[0] or next(
            (d for d in OPTIONAL_DEPENDENCIES
             if f'{d} is not installed' in str(err)), '')
        if (missing not in OPTIONAL_DEPENDENCIES
                or importlib.util.find_spec(missing) is not None):
            raise
        pytest.skip(f'{path.name}: {OPTIONAL_DEPENDENCIES[missing]}')


def test_only_a_documented_optional_dependency_skips(monkeypatch):
    import mmvlm.utils

    def missing(name, message=None):
        def load_config(*args, **kwargs):
            raise ModuleNotFoundError(message or f"No module named '{name}'",
                                      name=name)
        return load_config

    path = CONFIG_DIRS[0] / 'any.py'
    skipping = [missing('mmpretrain'),
                # mmengine, for a missing ``mmpretrain::`` base
                missing(None, 'mmpretrain is not installed, please install '
                        'mmpretrain manually')]
    failing = [missing('ftfy'), missing('mmdet.models'), missing(None),
               missing(None, 'mmdet is not installed, please install mmdet '
                       'manually')]
    if importlib.util.find_spec('mmpretrain') is not None:
        failing, skipping = failing + skipping, []  # installed: no excuse
    for load_config in skipping:
        monkeypatch.setattr(mmvlm.utils, 'load_config', load_config)
        with pytest.raises(pytest.skip.Exception,
                           match='docs/image_level.md'):
            load_or_skip(path)
    for load_config in failing:
        monkeypatch.setattr(mmvlm.utils, 'load_config', load_config)
        with pytest.raises(ModuleNotFoundError):
            load_or_skip(path)


def _text_encoders(cfg):
    """Every ``HFTextEncoder`` config dict in a config (any depth)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'HFTextEncoder':
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg)
    return found


@pytest.mark.parametrize(
    'path', shipped_configs(),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_config_builds_with_the_network_disabled(path, no_network):
    from mmengine.registry import DefaultScope, init_default_scope

    from mmvlm.models.text_encoders.model_sources import \
        resolve_model_source
    cfg = load_or_skip(path)
    encoders = _text_encoders(cfg.model)
    sources = [resolve_model_source(e['name_or_path'], e.get('gguf_file'),
                                    e.get('local_files_only', True))
               for e in encoders if e.get('name_or_path')]
    for source in sources:
        assert Path(source.path).exists(), source
    if any(s.gguf_file for s in sources):
        assert no_network == []
        return  # built by hand: ~40 s of GGUF dequantisation (see above)
    init_default_scope(cfg.default_scope)
    try:
        registry = importlib.import_module(f'{cfg.default_scope}.registry')
        model = registry.MODELS.build(cfg.model)
    finally:
        DefaultScope._instance_dict.clear()
    assert sum(p.numel() for p in model.parameters()) > 0
    assert no_network == []


def test_missing_model_gives_the_text_encoder_error(tmp_path, no_network):
    """A missing folder, an unknown alias, a hub id that was never
    downloaded and a folder without tokenizer files: each a clear error at
    once, naming the value and the fix, and no connection attempt."""
    from mmvlm.models.text_encoders import HFTextEncoder
    for name in (str(tmp_path / 'no' / 'such' / 'model'), 'minilm-l6-typo',
                 'someorg/never-downloaded'):
        with pytest.raises(FileNotFoundError) as err:
            HFTextEncoder(name_or_path=name, embed_dims=8)
        message = str(err.value)
        assert repr(name) in message and 'offline aliases' in message
        assert 'local_files_only=False' in message
    # A model folder with weights and config but no tokenizer files used to
    # report a missing sentencepiece / tiktoken package.
    folder = tmp_path / 'lm_without_tokenizer'
    folder.mkdir()
    (folder / 'config.json').write_text('{"model_type": "bert"}')
    (folder / 'model.safetensors').write_bytes(b'')
    with pytest.raises(FileNotFoundError) as err:
        HFTextEncoder(name_or_path=str(folder), embed_dims=8)
    message = str(err.value)
    assert 'has no tokenizer files' in message and str(folder) in message
    assert 'config.json, model.safetensors' in message
    assert 'tokenizer.json' in message and 'save_pretrained' in message
    assert 'sentencepiece or tiktoken' not in message
    assert no_network == []
