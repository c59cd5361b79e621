"""The page's default model, the main job's many-concept detector, on its
example scenes (every concept in them held out of training).

Needs the main job's checkpoint (``bash tools/run_demo.sh`` writes
``work_dirs/demo/concepts_lg``; ``MMVLM_WEB_DEMO_WORK_DIR`` points
elsewhere) and the demo data; without them the test is skipped and says
so. The other web demo tests use tiny untrained models and need neither.
"""
import os

import pytest

from projects.demo.mmvlm_demo import concept_names
from projects.web_demo.mmvlm_web_demo.catalog import demo_catalog
from projects.web_demo.mmvlm_web_demo.service import DemoService

WORK_DIR = os.environ.get('MMVLM_WEB_DEMO_WORK_DIR', 'work_dirs/demo')
#: Names of nothing in the many-concept world.
UNRELATED = ('bacterium', 'kidney', 'tax return')


@pytest.fixture(scope='module')
def service():
    entries = demo_catalog(WORK_DIR, 'data/demo')
    lg = next(e for e in entries if e.key == 'concepts_lg')
    if lg.missing or not lg.examples:
        pytest.skip(f'no trained many-concept model or demo data: '
                    f'{lg.missing or "data/demo/concepts missing"} (run '
                    '`bash tools/run_demo.sh`)')
    return DemoService(entries)


def test_examples_hold_held_out_names_only(service):
    lg = service.entries['concepts_lg']
    for example in lg.examples:
        for name in example.prompts.split('. '):
            assert name in concept_names.TEST_HELD_OUT, name


def test_unrelated_words_draw_nothing_above_the_default_threshold(service):
    assert not set(UNRELATED) & set(concept_names.ALL)
    for example in service.entries['concepts_lg'].examples:
        result = service.run('concepts_lg', example.path,
                             '. '.join(UNRELATED), 0.3, 30, heatmaps=False)
        assert result.ok, result.message
        assert result.rows == [], (example.path, result.rows)


def test_held_out_names_outscore_unrelated_words(service):
    """Per scene: the best box of the scene's own (never trained) names
    against the best box of the unrelated words, asked together; the own
    names must win in most scenes."""
    wins = []
    for example in service.entries['concepts_lg'].examples:
        own = example.prompts.split('. ')
        result = service.run('concepts_lg', example.path,
                             '. '.join(own + list(UNRELATED)), 0.0, 100,
                             heatmaps=False)
        assert result.ok, result.message
        best = {}
        for row in result.rows:
            best[row[0]] = max(best.get(row[0], 0.0), row[1])
        top_own = max(best.get(n, 0.0) for n in own)
        top_unrelated = max(best.get(n, 0.0) for n in UNRELATED)
        wins.append(top_own > top_unrelated)
        status = {r[0]: r[-1] for r in result.rows}
        for name in own:
            if name in status:
                assert status[name] == 'held out (never trained)'
    assert sum(wins) > len(wins) / 2, wins
