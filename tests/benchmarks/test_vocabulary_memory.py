"""The vocabulary memory keys of the benchmark (tiny text encoder)."""
import pytest

pytest.importorskip('mmseg')

from mmvlm.benchmarks import report  # noqa: E402
from mmvlm.benchmarks.runner import BenchmarkSettings  # noqa: E402
from mmvlm.benchmarks.vocabulary import run_vocabulary, vocab_key  # noqa


def test_vocabulary_keys_are_measured_and_reported():
    assert vocab_key(1000) == 'vocab_encode_peak_mb_1k'
    assert vocab_key(20000) == 'vocab_encode_peak_mb_20k'
    assert BenchmarkSettings().vocab_sizes == (1000, 20000)
    settings = BenchmarkSettings(quick=True, tiny_lm=True,
                                 vocab_sizes=(10, 2500))  # 2500: chunked
    out = dict(keys={}, details={}, messages=[])
    calls = []
    run_vocabulary(settings, out, lambda: calls.append(1))
    assert len(calls) == 2
    for count in (10, 2500):
        key = vocab_key(count)
        assert out['keys'][key] >= 0
        assert out['details'][key]['names'] == count
    assert out['details'][vocab_key(2500)]['result_mb'] == round(
        2500 * 256 * 4 / 2**20, 1)
    result = dict(keys=out['keys'], met={}, details=out['details'],
                  settings=dict(device='cpu', threads=1), messages=[],
                  machine=dict(cpu_count=2, torch='x'), seconds=1.0)
    text = report.render_tables(result, 'python tools/benchmark/x.py')
    assert '| `vocab_encode_peak_mb_2500` |' in text
