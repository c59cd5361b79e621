"""mmvlm registers its components into mmdet's and mmseg's registries."""
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from mmvlm.registry import (DET_MODELS, MODELS, SEG_MODELS, MultiRegistrar,
                            codebase_available)

CLASSIFIER_CFG = dict(type='ContrastiveClassifier',
                      in_channels=8,
                      embed_dims=4)


def test_both_codebases_are_installed_in_the_dev_environment():
    assert codebase_available('mmdet')
    assert codebase_available('mmseg')
    assert not codebase_available('definitely_not_a_codebase')


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_custom_imports_config_builds_through_each_registry(scope, tmp_path):
    """A config with custom_imports builds an mmvlm component in each scope."""
    cfg_file = tmp_path / f'{scope}_cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['mmvlm'], "
        'allow_failed_imports=False)\n'
        f"default_scope = '{scope}'\n"
        f'model = {CLASSIFIER_CFG!r}\n')
    cfg = Config.fromfile(str(cfg_file))  # performs the custom import
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    assert registry.get('ContrastiveClassifier') is not None
    scope_name = f'test-registry-{scope}'
    DefaultScope.get_instance(scope_name, scope_name=scope)
    from mmengine.registry import MODELS as ROOT_MODELS
    with DefaultScope.overwrite_default_scope(scope):
        module = ROOT_MODELS.build(cfg.model)
    assert type(module).__name__ == 'ContrastiveClassifier'
    assert module.embed_dims == 4


def test_multi_registrar_registers_everywhere_and_side_specific():

    class _Both:
        pass

    class _DetOnly:
        pass

    class _SegOnly:
        pass

    MODELS.register_module(module=_Both)
    DET_MODELS.register_module(module=_DetOnly)
    SEG_MODELS.register_module(module=_SegOnly)
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG
    assert DET.get('_Both') is _Both and SEG.get('_Both') is _Both
    assert DET.get(
        '_DetOnly') is _DetOnly and '_DetOnly' not in SEG.module_dict
    assert SEG.get(
        '_SegOnly') is _SegOnly and '_SegOnly' not in DET.module_dict
    for registry in (DET, SEG):
        for name in ('_Both', '_DetOnly', '_SegOnly'):
            registry.module_dict.pop(name, None)


def test_missing_codebase_is_skipped():
    registrar = MultiRegistrar('MODELS', ('mmdet', 'no_such_codebase'))
    assert [r.scope for r in registrar.registries] == ['mmdet']

    class _Tmp:
        pass

    assert registrar.register_module(module=_Tmp) is _Tmp
    from mmdet.registry import MODELS as DET
    DET.module_dict.pop('_Tmp')


def test_init_default_scope_then_build_by_bare_name():
    init_default_scope('mmdet')
    from mmengine.registry import MODELS as ROOT_MODELS
    module = ROOT_MODELS.build(CLASSIFIER_CFG)
    assert module.in_channels == 8


def test_every_registrar_is_used_by_the_package():
    """``mmvlm.registry`` exports only registrars some component uses."""
    import ast
    from pathlib import Path

    import mmvlm.registry as registry
    exported = {
        name
        for name, value in vars(registry).items()
        if isinstance(value, MultiRegistrar)
    }
    package = Path(registry.__file__).parent
    used = set()
    for path in package.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (
                    node.module or '').split('.')[-1] == 'registry' and (
                        node.level > 0 or node.module == 'mmvlm.registry'):
                used.update(alias.name for alias in node.names)
    assert exported <= used, f'unused registrars: {sorted(exported - used)}'


def _failing_import(monkeypatch, scope, error):
    """Make ``importlib.import_module('<scope>.registry')`` raise
    ``error``; other imports are untouched."""
    import importlib
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == scope or name.startswith(scope + '.'):
            raise error
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, 'import_module', fake)


@pytest.fixture
def fresh_codebase_cache():
    codebase_available.cache_clear()
    yield
    codebase_available.cache_clear()


def test_codebase_that_is_not_installed_is_absent(monkeypatch,
                                                  fresh_codebase_cache):
    """Only a ModuleNotFoundError for the codebase package itself means
    'not installed' (what Python raises when the package is missing)."""
    _failing_import(monkeypatch, 'mmdet',
                    ModuleNotFoundError("No module named 'mmdet'",
                                        name='mmdet'))
    assert codebase_available('mmdet') is False
    assert [r.scope for r in MultiRegistrar('MODELS').registries] == [
        'mmseg'
    ]


@pytest.mark.parametrize('error', [
    ImportError('boom'),
    ModuleNotFoundError("No module named 'boom'", name='boom'),
    ModuleNotFoundError("No module named 'mmdet.registry'",
                        name='mmdet.registry'),
    AssertionError('MMCV==2.2.0 is used but incompatible (boom)'),
],
                         ids=['ImportError', 'missing-dependency',
                              'no-registry-module', 'version-assert'])
def test_broken_codebase_raises_naming_the_import_error(
        monkeypatch, fresh_codebase_cache, error):
    """A codebase that is installed but does not import is an error, not
    an absent side whose components silently vanish from the registries."""
    _failing_import(monkeypatch, 'mmdet', error)
    with pytest.raises(ImportError) as raised:
        codebase_available('mmdet')
    message = str(raised.value)
    assert 'mmdet is installed but mmdet.registry does not import' in message
    assert f'{type(error).__name__}: {error}' in message
    assert 'tools/setup_env.sh' in message
    assert raised.value.__cause__ is error


def test_import_mmvlm_with_a_broken_mmdet_names_the_import_error():
    """End to end, in a fresh interpreter: ``import mmvlm`` with an mmdet
    whose import fails stops with that error instead of importing with
    every detector unregistered."""
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent('''
        import importlib.abc
        import sys

        class BrokenMmdet(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == 'mmdet' or name.startswith('mmdet.'):
                    raise ImportError('boom')
                return None

        sys.meta_path.insert(0, BrokenMmdet())
        try:
            import mmvlm  # noqa: F401
        except ImportError as err:
            print('raised:', err)
        else:
            print('imported')
    ''')
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout.strip()
    assert out.startswith('raised: mmdet is installed but mmdet.registry '
                          'does not import: ImportError: boom'), out
