"""Structure of ``configs/``: inherit, never copy; no dead base files.

The rules (mmdet / mmseg practice):

- every file under a ``_base_`` folder is inherited, directly or through
  another base, by at least one config;
- every ``_base_`` entry exists: a local file, or an ``mmdet::`` /
  ``mmseg::`` file of the installed codebase;
- every config inherits a stock ``mmdet::`` / ``mmseg::`` config somewhere
  up its chain (the stock parts are inherited, not copied);
- the text meta keys packed into data samples are spelled out once.

The demo's configs live in ``projects/demo/configs`` (a project of its own)
and are left out.
"""
import ast
import importlib.util
from pathlib import Path
from typing import Dict, List

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'
AREAS = ('detection', 'segmentation')
CODEBASES = ('mmdet', 'mmseg')


def config_files() -> List[Path]:
    """Every config file of the areas, base files included."""
    return sorted(p for area in AREAS for p in (CONFIGS / area).rglob('*.py'))


def is_base_file(path: Path) -> bool:
    return '_base_' in path.relative_to(CONFIGS).parts


def base_entries(path: Path) -> List[str]:
    """The ``_base_`` entries of a config file, as written."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def codebase_config(entry: str) -> Path:
    """The file of an ``mmdet::`` / ``mmseg::`` base entry."""
    scope, rel = entry.split('::', 1)
    spec = importlib.util.find_spec(scope)
    if spec is None:
        pytest.skip(f'{scope} is not installed')
    return Path(spec.origin).parent / '.mim' / 'configs' / rel


def local_parents() -> Dict[Path, List[Path]]:
    """Config file -> the local files it lists in ``_base_``."""
    return {
        path: [(path.parent / e).resolve() for e in base_entries(path)
               if '::' not in e]
        for path in config_files()
    }


def test_every_base_entry_exists():
    for path in config_files():
        for entry in base_entries(path):
            if '::' in entry:
                assert entry.split('::')[0] in CODEBASES, (path, entry)
                target = codebase_config(entry)
            else:
                target = path.parent / entry
            assert target.is_file(), f'{path}: _base_ {entry!r} not found'


def test_every_base_file_is_inherited():
    parents = local_parents()
    reached, todo = set(), [p for p in parents if not is_base_file(p)]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in reached:
                reached.add(parent)
                todo.append(parent)
    dead = [
        str(p.relative_to(CONFIGS)) for p in parents
        if is_base_file(p) and p.resolve() not in reached
    ]
    assert not dead, f'base files no config inherits: {dead}'


def test_every_config_inherits_a_stock_config():
    parents = local_parents()

    def inherits_stock(path: Path) -> bool:
        if any('::' in e for e in base_entries(path)):
            return True
        return any(inherits_stock(p) for p in parents.get(path, []))

    for path in parents:
        if not is_base_file(path):
            assert inherits_stock(path), (
                f'{path.relative_to(CONFIGS)} inherits no mmdet:: / mmseg:: '
                'config: inherit the stock config instead of copying it.')


def test_text_meta_keys_are_spelled_out_once():
    """The tuple of text meta keys lives in one base file."""
    found = []
    for path in config_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List)) and any(
                    isinstance(e, ast.Constant) and e.value == 'text_label_ids'
                    for e in node.elts):
                found.append(str(path.relative_to(CONFIGS)))
    assert found == ['detection/_base_/lg_coco_detection.py'], found


@pytest.mark.parametrize('path',
                         [p for p in config_files() if not is_base_file(p)],
                         ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_resolves_with_the_mmvlm_import(path):
    for scope in CODEBASES:
        if importlib.util.find_spec(scope) is None:
            pytest.skip(f'{scope} is not installed')
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    assert cfg.custom_imports.imports == ['mmvlm']
    assert cfg.model.type.startswith('LanguageGuided')
