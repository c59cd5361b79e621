"""Structure of the shipped configs: inherit, never copy; no dead base files.

Two config trees are checked: ``configs/`` (detection, segmentation and
classification) and the demo project's ``projects/demo/configs``. The rules
(mmdet / mmseg / mmpretrain practice):

- every file under a ``_base_`` folder is inherited, directly or through
  another base, by at least one config of its tree;
- every ``_base_`` entry exists: a local file, or an ``mmdet::`` /
  ``mmseg::`` / ``mmpretrain::`` file of the installed codebase;
- every config inherits a stock codebase config somewhere up its chain (the
  stock parts are inherited, not copied);
- every config imports mmvlm and a language-guided config (``lg-*``,
  ``frozen-*``) builds an mmvlm model type;
- in ``configs/`` the text meta keys packed into data samples are spelled
  out once.

The only skips: a config that inherits ``mmpretrain::`` files cannot be read
without mmpretrain, which the main environment does not install (it lives
in the optional ``.venv-mmpretrain``, docs/image_level.md); those configs
are built there by ``tests/models/classifiers/test_classification_configs.py``.
"""
import ast
import importlib.util
from pathlib import Path
from typing import Dict, List

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
#: The config trees: folder -> its areas (None: every file of the folder).
TREES = {
    ROOT / 'configs': ('detection', 'segmentation', 'classification'),
    ROOT / 'projects' / 'demo' / 'configs': None,
}
CONFIGS = ROOT / 'configs'
CODEBASES = ('mmdet', 'mmseg', 'mmpretrain')
#: Model types of mmvlm's language-guided configs start with one of these.
MMVLM_MODEL_PREFIXES = ('LanguageGuided', 'FrozenPrefix')
OPTIONAL_CODEBASE_REASON = {
    'mmpretrain':
    'mmpretrain is not installed in this environment (it lives in the '
    'optional .venv-mmpretrain, docs/image_level.md); these configs are '
    'built there by tests/models/classifiers/test_classification_configs.py',
}


def config_files() -> List[Path]:
    """Every config file of every tree, base files included."""
    files = []
    for tree, areas in TREES.items():
        folders = [tree] if areas is None else [tree / a for a in areas]
        for folder in folders:
            assert folder.is_dir(), folder
            files += sorted(folder.rglob('*.py'))
    return files


def tree_of(path: Path) -> Path:
    return next(t for t in TREES if t in path.parents)


def is_base_file(path: Path) -> bool:
    return '_base_' in path.relative_to(tree_of(path)).parts


def config_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def base_entries(path: Path) -> List[str]:
    """The ``_base_`` entries of a config file, as written."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == '_base_'):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def local_parents() -> Dict[Path, List[Path]]:
    """Config file -> the local files it lists in ``_base_``."""
    return {
        path: [(path.parent / e).resolve() for e in base_entries(path)
               if '::' not in e]
        for path in config_files()
    }


def stock_scopes(path: Path) -> set:
    """The codebases whose configs ``path`` inherits, up its chain."""
    parents = local_parents()
    scopes, todo, seen = set(), [path.resolve()], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        scopes |= {e.split('::')[0] for e in base_entries(current)
                   if '::' in e}
        todo += parents.get(current, [])
    return scopes


def skip_without(scopes) -> None:
    """Skip when a codebase the config needs is missing: only for the
    documented optional ones; a missing mmdet / mmseg fails."""
    for scope in sorted(scopes):
        if importlib.util.find_spec(scope) is None:
            if scope not in OPTIONAL_CODEBASE_REASON:
                pytest.fail(f'{scope} is not installed; the main '
                            'environment has it (bash tools/setup_env.sh).')
            pytest.skip(OPTIONAL_CODEBASE_REASON[scope])


def codebase_config(entry: str) -> Path:
    """The file of an ``mmdet::`` / ``mmseg::`` / ``mmpretrain::`` entry."""
    scope, rel = entry.split('::', 1)
    skip_without([scope])
    spec = importlib.util.find_spec(scope)
    return Path(spec.origin).parent / '.mim' / 'configs' / rel


def test_every_tree_and_area_has_configs():
    names = {config_id(p) for p in config_files()}
    for tree, areas in TREES.items():
        for folder in ([tree] if areas is None else
                       [tree / a for a in areas]):
            assert any(n.startswith(config_id(folder) + '/')
                       for n in names), folder


@pytest.mark.parametrize('path', config_files(), ids=config_id)
def test_every_base_entry_exists(path):
    local = [e for e in base_entries(path) if '::' not in e]
    for entry in local:
        assert (path.parent / entry).is_file(), (
            f'{config_id(path)}: _base_ {entry!r} not found')
    stock = [e for e in base_entries(path) if '::' in e]
    for entry in stock:
        assert entry.split('::')[0] in CODEBASES, (path, entry)
    for entry in stock:
        target = codebase_config(entry)
        assert target.is_file(), (
            f'{config_id(path)}: _base_ {entry!r} not found')


def test_every_base_file_is_inherited():
    parents = local_parents()
    reached, todo = set(), [p for p in parents if not is_base_file(p)]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in reached:
                reached.add(parent)
                todo.append(parent)
    dead = [
        config_id(p) for p in parents
        if is_base_file(p) and p.resolve() not in reached
    ]
    assert not dead, f'base files no config inherits: {dead}'


def test_every_config_inherits_a_stock_config():
    parents = local_parents()

    for path in parents:
        if not is_base_file(path):
            assert stock_scopes(path), (
                f'{config_id(path)} inherits no mmdet:: / mmseg:: / '
                'mmpretrain:: config: inherit the stock config instead of '
                'copying it.')


def test_text_meta_keys_are_spelled_out_once():
    """The tuple of text meta keys lives in one base file of configs/."""
    found = []
    for path in config_files():
        if tree_of(path) != CONFIGS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List)) and any(
                    isinstance(e, ast.Constant) and e.value == 'text_label_ids'
                    for e in node.elts):
                found.append(str(path.relative_to(CONFIGS)))
    assert found == ['detection/_base_/lg_coco_detection.py'], found


@pytest.mark.parametrize('path',
                         [p for p in config_files() if not is_base_file(p)],
                         ids=config_id)
def test_config_resolves_with_the_mmvlm_import(path):
    skip_without(stock_scopes(path))
    cfg = Config.fromfile(str(path), import_custom_modules=False)
    assert cfg.custom_imports.imports == ['mmvlm']
    if path.name.startswith(('lg-', 'frozen-')):
        assert cfg.model.type.startswith(MMVLM_MODEL_PREFIXES), (
            f'{config_id(path)}: a language-guided config builds '
            f'{cfg.model.type}')
