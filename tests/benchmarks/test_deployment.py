"""The deployment benchmark takes its models from the caller and refuses
bad ones before building anything."""
import pytest

from mmvlm.benchmarks.deployment import (R50_MODELS, check_cases,
                                         run_deployment_benchmark)

pytest.importorskip('onnxruntime')


def test_the_full_run_configs_exist():
    check_cases(R50_MODELS)


def test_a_missing_config_is_named(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(FileNotFoundError, match='nope.py'):
        run_deployment_benchmark([('mine', missing, (64, 64))])
    with pytest.raises(FileNotFoundError, match='text_encoder_config'):
        run_deployment_benchmark(text_encoder_config=missing)


@pytest.mark.parametrize('case', [
    ('mine', R50_MODELS[0][1]),
    ('mine', R50_MODELS[0][1], (64, )),
    ('mine', R50_MODELS[0][1], (64, 0)),
    ('mine', R50_MODELS[0][1], '64x64'),
])
def test_a_malformed_case_is_named(case):
    with pytest.raises(ValueError, match='give \\(name, config'):
        check_cases([case])


def test_nothing_to_measure_is_an_error():
    with pytest.raises(ValueError, match='no model to measure'):
        run_deployment_benchmark()


def test_fewer_than_five_repeats_is_an_error():
    with pytest.raises(ValueError, match='repeats=2'):
        run_deployment_benchmark(R50_MODELS[:1], repeats=2)
