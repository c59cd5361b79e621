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
