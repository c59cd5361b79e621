"""run_benchmark on tiny settings: every key, the report, no reference."""
import json

import pytest

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

from mmvlm.benchmarks import report  # noqa: E402
from mmvlm.benchmarks.references import (  # noqa: E402
    BUILD_COMMAND, ReferenceUnavailable, reference_python)
from mmvlm.benchmarks.runner import (GOALS, BenchmarkSettings,  # noqa: E402
                                     run_benchmark)


def tiny_settings() -> BenchmarkSettings:
    return BenchmarkSettings(quick=True,
                             depth=18,
                             size=64,
                             batch=1,
                             repeats=1,
                             warmup=0,
                             eval_batches=2,
                             seg_train_size=64,
                             seg_sizes=(64, ),
                             tiny_lm=True,
                             device='cpu')


def test_missing_reference_environment_names_the_build_command(
        tmp_path, monkeypatch):
    monkeypatch.setenv('MMVLM_REFERENCE_VENV', str(tmp_path / 'none'))
    with pytest.raises(ReferenceUnavailable, match=BUILD_COMMAND):
        reference_python()


def test_every_key_measured_without_the_reference(tmp_path, monkeypatch):
    monkeypatch.setenv('MMVLM_REFERENCE_VENV', str(tmp_path / 'none'))
    result = run_benchmark(settings=tiny_settings(),
                           deployment=False,
                           configure_allocator=False)
    keys = result['keys']
    assert set(GOALS) <= set(keys)
    for key in GOALS:
        if key.startswith('p2_') or key.endswith('px'):
            continue  # no reference here; s2 runs at 64 px only
        assert keys[key] is not None, key
    for key in ('p2_train_ratio_vs_glip', 'p2_infer_ratio_vs_glip',
                'p2_lvis_infer_ratio_vs_gdino'):
        assert keys[key] is None
    assert any(BUILD_COMMAND in m for m in result['messages'])
    assert keys['p5_lm_calls_per_eval'] == 1
    assert 0 < keys['p6_ckpt_ratio'] < 1.5
    assert keys['mem_p1_train_ratio_vs_atss'] > 0
    assert keys['s2_infer_ratio_847_vs_150_64px'] > 0
    json.dumps(result)  # the CLI writes it as JSON

    page = tmp_path / 'benchmarks.md'
    page.write_text('# Benchmarks\n\nkept text\n')
    report.update_doc(str(page), result, 'python tools/benchmark/x.py')
    report.update_doc(str(page), result, 'python tools/benchmark/x.py')
    text = page.read_text()
    assert text.count(report.BEGIN) == 1 and 'kept text' in text
    for key in GOALS:
        assert f'`{key}`' in text
