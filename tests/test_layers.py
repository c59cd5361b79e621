"""The layers of ``mmvlm/``: every import of an mmvlm module points down.

Each module of the package is parsed with :mod:`ast` (nothing is imported),
and every import of an mmvlm module is checked, at module level and inside
functions alike, against the order of the layers (lowest first)::

    version, registry
    utils
    structures
    models
    datasets | evaluation | visualization | testing
    engine
    apis
    deployment
    benchmarks
    mmvlm (the package root, which imports the others to register them)

A module may import a lower layer, or its own sub-package; it may not import
a higher layer nor a sibling of its own layer (``datasets`` and
``evaluation`` know nothing of each other). ``tools/`` and ``projects/`` sit
above all of it, and nothing in ``mmvlm/`` reads ``projects/``.

The ranks of the layers the public order does not name were set from what
those modules import at module level today:

- ``version``, ``registry``, then ``utils``: the foundation. ``registry``
  and ``version`` import no mmvlm module; ``utils`` imports only
  ``registry``.
- ``testing``: tiny models for tests; imports ``models``; used by
  ``benchmarks`` (and the tests), never by a lower layer.
- ``engine``: training hooks on mmengine's runner; above the data and
  evaluation layer (``TrainingDataReportHook`` uses ``datasets.checks``, as
  mmdet's hooks use its datasets and visualisation), below ``apis``.
- ``deployment`` below ``benchmarks``: the benchmarks time the exports.

The imports that break the order today are listed, one line each with the
reason, in :data:`KNOWN_VIOLATIONS`. The test fails on any import against the
order that is not listed, and on a listed one that has gone (delete its
line), so the list only shrinks. An import circle across layers needs an
import against the order; circles inside one layer are listed in
:data:`KNOWN_CIRCLES`. The count of in-function imports of mmvlm modules,
the usual way to dodge an import circle, may not grow
(:data:`MAX_IN_FUNCTION_IMPORTS`).
"""
import ast
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmvlm'

#: Rank of each layer (the first name below ``mmvlm.``; '' is the package
#: root). Higher layers may import lower ones, never the other way round.
RANKS: Dict[str, int] = {
    'version': 0,
    'registry': 0,
    'utils': 1,
    'structures': 2,
    'models': 3,
    'datasets': 4,
    'evaluation': 4,
    'visualization': 4,
    'testing': 4,
    'engine': 5,
    'apis': 6,
    'deployment': 7,
    'benchmarks': 8,
    '': 9,
}

#: Imports against the order found in the package, ``(importer, imported)``
#: as dotted module names, each with why it is there. Remove a line when its
#: import goes; never add one (fix the import instead).
KNOWN_VIOLATIONS: Dict[Tuple[str, str], str] = {}

#: Modules of ``mmvlm/`` that read a file of ``projects/`` (a path spelled
#: in code), each with why. Same rule: the list only shrinks.
KNOWN_PROJECT_READERS: Dict[str, str] = {}

#: Import circles inside one layer (an import circle across layers needs an
#: import against the order, which the test above catches), each a sorted
#: tuple of its modules, with why. Same rule: the list only shrinks.
KNOWN_CIRCLES: Dict[Tuple[str, ...], str] = {}

#: In-function imports of mmvlm modules (import statements) in the package
#: when this test was written. It may never grow; lower it as they go.
MAX_IN_FUNCTION_IMPORTS = 40


class MmvlmImport(NamedTuple):
    importer: str  # dotted module name of the importing file
    imported: str  # dotted name of the imported mmvlm module or package
    in_function: bool
    line: int
    path: str  # relative to the repository root


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def package_modules() -> Dict[str, Path]:
    """Dotted name -> file of every module of ``mmvlm/``."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))}


def _function_imports(tree: ast.AST) -> Set[int]:
    """ids of the import nodes that sit inside a function."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    inside.add(id(sub))
    return inside


def _resolve_from(node: ast.ImportFrom, importer: str,
                  is_package: bool) -> str:
    """Absolute module named by ``from <...> import``."""
    if not node.level:
        return node.module or ''
    base = importer.split('.')
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def mmvlm_imports() -> Iterator[MmvlmImport]:
    """Every import of an mmvlm module in the package, one per target."""
    modules = package_modules()
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        inside = _function_imports(tree)
        is_package = path.name == '__init__.py'
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_from(node, importer, is_package)
                # ``from pkg import submodule`` imports the submodule
                targets = sorted({
                    f'{base}.{a.name}'
                    if f'{base}.{a.name}' in modules else base
                    for a in node.names
                })
            else:
                continue
            for target in targets:
                if target == 'mmvlm' or target.startswith('mmvlm.'):
                    yield MmvlmImport(importer, target,
                                      id(node) in inside, node.lineno,
                                      str(path.relative_to(ROOT)))


def layer(module: str) -> str:
    """``'mmvlm.models.necks.x'`` -> ``'models'``; the root -> ``''``."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def against_the_order(imp: MmvlmImport) -> bool:
    """An import of a higher layer, or of a sibling of the same rank."""
    src, dst = layer(imp.importer), layer(imp.imported)
    if src == dst and src != '':
        return False  # inside one sub-package
    if src == '':
        return False  # the package root imports what it registers
    return RANKS[dst] >= RANKS[src]


def _fmt(pairs) -> str:
    return '\n'.join(f'  {a} -> {b}' for a, b in sorted(pairs))


def test_every_layer_has_a_rank():
    layers = {layer(m) for m in package_modules()}
    assert layers == set(RANKS), (
        f'layers without a rank: {sorted(layers - set(RANKS))}; ranks of '
        f'layers that no longer exist: {sorted(set(RANKS) - layers)}')


def test_imports_follow_the_layers():
    found: Dict[Tuple[str, str], List[MmvlmImport]] = {}
    for imp in mmvlm_imports():
        if against_the_order(imp):
            found.setdefault((imp.importer, imp.imported), []).append(imp)
    new = set(found) - set(KNOWN_VIOLATIONS)
    assert not new, (
        'imports against the layer order (structures -> models -> datasets '
        '/ evaluation / visualization -> apis -> deployment / benchmarks; '
        'see the module docstring):\n' + '\n'.join(
            f'  {i.path}:{i.line}: {i.importer} -> {i.imported}'
            for key in sorted(new) for i in found[key]) +
        '\nMove the code to the layer that owns it instead of importing up.')
    gone = set(KNOWN_VIOLATIONS) - set(found)
    assert not gone, (
        'these known violations are gone; delete their lines from '
        f'KNOWN_VIOLATIONS in {Path(__file__).name}:\n' + _fmt(gone))


def test_known_violations_are_against_the_order():
    """Each listed pair names real modules and really points up."""
    modules = package_modules()
    for (src, dst), reason in KNOWN_VIOLATIONS.items():
        assert src in modules and dst in modules, (src, dst)
        assert reason.strip(), (src, dst)
        assert against_the_order(MmvlmImport(src, dst, False, 0, '')), (
            f'{src} -> {dst} follows the order: delete it from '
            'KNOWN_VIOLATIONS')


def import_circles() -> List[Tuple[str, ...]]:
    """Circles of imports between modules of one layer (strongly connected
    components of more than one module), each a sorted tuple.

    An import of ``a.b.c`` also runs the package ``a.b``; that edge counts
    too, except towards the importer's own packages.
    """
    graph: Dict[str, Set[str]] = {m: set() for m in package_modules()}
    for imp in mmvlm_imports():
        src, dst = imp.importer, imp.imported
        if src.startswith(dst + '.') or layer(src) != layer(dst):
            continue
        graph[src].add(dst)
        parts = dst.split('.')
        for k in range(2, len(parts)):
            package = '.'.join(parts[:k])
            if package != src and not src.startswith(package + '.'):
                graph[src].add(package)
    # Tarjan's strongly connected components
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(circles)


def test_no_import_circle_inside_a_layer():
    found = set(import_circles())
    new = found - set(KNOWN_CIRCLES)
    assert not new, ('import circles: ' + '; '.join(
        ' <-> '.join(c) for c in sorted(new)) + '. Put what both need in '
                     'one module that imports neither.')
    gone = set(KNOWN_CIRCLES) - found
    assert not gone, (f'these circles are gone; delete them from '
                      f'KNOWN_CIRCLES: {sorted(gone)}')


def _spelled_paths(tree: ast.AST) -> Iterator[Tuple[int, str]]:
    """String constants of code (docstrings left out) with their line."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(
                    first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(
                node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def reads_projects(path: Path) -> List[str]:
    """Where a module spells a path into ``projects/`` or imports the
    demo's package."""
    tree = ast.parse(path.read_text())
    hits = []
    for line, text in _spelled_paths(tree):
        parts = text.replace('\\', '/').split('/')
        if 'projects' in parts:
            hits.append(f'{line}: {text!r}')
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or '']
        hits += [
            f'{node.lineno}: import {n}' for n in names
            if n.split('.')[0] in ('projects', 'mmvlm_demo')
        ]
    return hits


def test_the_package_does_not_read_projects():
    found = {}
    for name, path in package_modules().items():
        hits = reads_projects(path)
        if hits:
            found[name] = hits
    new = set(found) - set(KNOWN_PROJECT_READERS)
    assert not new, (
        'mmvlm/ must not read projects/ (a project builds on the package, '
        'never the reverse):\n' + '\n'.join(f'  {n}: {found[n]}'
                                            for n in sorted(new)))
    gone = set(KNOWN_PROJECT_READERS) - set(found)
    assert not gone, (
        'these modules no longer read projects/; delete them from '
        f'KNOWN_PROJECT_READERS: {sorted(gone)}')


def test_in_function_imports_of_mmvlm_do_not_grow():
    statements = {(i.path, i.line) for i in mmvlm_imports() if i.in_function}
    per_file = Counter(path for path, _ in statements)
    assert len(statements) <= MAX_IN_FUNCTION_IMPORTS, (
        f'{len(statements)} in-function imports of mmvlm modules, more than '
        f'the {MAX_IN_FUNCTION_IMPORTS} of before; import at module level '
        'from a lower layer instead. Per file: ' +
        ', '.join(f'{p} {n}' for p, n in per_file.most_common()))


def test_the_checker_sees_what_it_must():
    """The parser on small sources: in-function and relative imports, a
    sibling and an upward import, a path into projects/."""
    source = ('"""Docs may name projects/demo."""\n'
              'from ..structures import Vocabulary\n'
              'def f():\n'
              '    from mmvlm.apis import detect\n'
              "    return 'projects/demo/configs'\n")
    tree = ast.parse(source)
    inside = _function_imports(tree)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    rel, top = sorted(nodes, key=lambda n: n.lineno)
    assert id(rel) not in inside and id(top) in inside
    assert _resolve_from(rel, 'mmvlm.visualization.x',
                         False) == 'mmvlm.structures'
    assert _resolve_from(rel, 'mmvlm.visualization',
                         True) == 'mmvlm.structures'
    up = MmvlmImport('mmvlm.visualization.x', 'mmvlm.apis', True, 4, '')
    sibling = MmvlmImport('mmvlm.datasets.x', 'mmvlm.evaluation', False, 1,
                          '')
    down = MmvlmImport('mmvlm.apis.x', 'mmvlm.visualization', False, 1, '')
    assert against_the_order(up) and against_the_order(sibling)
    assert not against_the_order(down)
    assert [t for _, t in _spelled_paths(tree)] == ['projects/demo/configs']
