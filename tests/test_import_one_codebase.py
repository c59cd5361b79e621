"""mmvlm imports with only one of mmdet / mmseg installed."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import importlib.abc
    import sys

    BLOCKED, OTHER = sys.argv[1], sys.argv[2]

    class HideCodebase(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == BLOCKED or name.startswith(BLOCKED + '.'):
                raise ModuleNotFoundError(f'{name} is hidden by the test',
                                          name=name)
            return None

    sys.meta_path.insert(0, HideCodebase())
    import mmvlm
    from mmvlm.registry import codebase_available
    assert not codebase_available(BLOCKED)
    registry = __import__(OTHER + '.registry', fromlist=['MODELS'])
    for name in ('LLMPrefixNeck', 'HFTextEncoder'):
        assert registry.MODELS.get(name) is not None, name
    assert registry.TRANSFORMS.get('LoadClassTexts') is not None
    print('ok', sorted(m for m in sys.modules if m.startswith(BLOCKED)))
''')


@pytest.mark.parametrize('blocked, other', [('mmseg', 'mmdet'),
                                            ('mmdet', 'mmseg')])
def test_import_with_one_codebase_hidden(blocked, other):
    result = subprocess.run([sys.executable, '-c', SCRIPT, blocked, other],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'ok []'
