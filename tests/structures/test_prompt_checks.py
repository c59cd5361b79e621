"""mmvlm.structures.prompt_checks: the leaf module of the name and prompt
checks that the vocabulary and the prompts file share."""
import ast
from pathlib import Path

import pytest

from mmvlm import structures
from mmvlm.structures import prompt_checks

ROOT = Path(__file__).resolve().parents[2]


def test_it_imports_no_mmvlm_module():
    """A leaf: what vocabulary.py and prompts_file.py both need, so that
    neither imports the other to get it (the circle they formed)."""
    tree = ast.parse(Path(prompt_checks.__file__).read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append('.' * node.level + (node.module or ''))
    assert not [m for m in imported
                if m.startswith('.') or m.split('.')[0] == 'mmvlm'], imported
    source = (ROOT / 'mmvlm' / 'structures' / 'prompts_file.py').read_text()
    assert 'from .vocabulary import' not in source


def test_the_package_exports_the_same_functions():
    for name in ('check_synonyms', 'normalize_templates', 'expand_prompts',
                 'check_prompt_count', 'check_prompt_total', 'max_prompts',
                 'vocabulary_conflicts', 'warn_vocabulary_conflicts',
                 'MAX_PROMPTS', 'MAX_PROMPTS_ENV'):
        assert getattr(structures, name) is getattr(prompt_checks, name)


def test_warn_once_logs_each_key_once(monkeypatch):
    logged = []
    monkeypatch.setattr(prompt_checks, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    prompt_checks.warn_once(('a test key', 1), 'first')
    prompt_checks.warn_once(('a test key', 1), 'again')
    prompt_checks.warn_once(('a test key', 2), 'other')
    assert logged == ['first', 'other']


def test_vocabulary_from_file_orders_the_entries_by_the_classes(tmp_path):
    path = tmp_path / 'prompts.yaml'
    path.write_text('classes:\n- {name: nucleus, prompt: cell nucleus}\n'
                    '- background\n')
    vocab = structures.Vocabulary.from_file(str(path),
                                            ['background', 'nucleus'])
    assert list(vocab.entries) == ['background', 'cell nucleus']
    with pytest.raises(structures.PromptsFileMismatchError):
        structures.Vocabulary.from_file(str(path), ['nucleus'])
