"""The benchmark's command line: deployment models from the options or
the caller's defaults, passed through run_benchmark."""
import os.path as osp
import runpy

import pytest

from mmvlm.benchmarks import deployment, runner
from mmvlm.benchmarks.cli import deployment_cases, image_size, main
from mmvlm.benchmarks.runner import BenchmarkSettings, run_benchmark

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/detection/lg-atss_r50_fpn_1x_coco.py'


def test_image_size():
    assert image_size('400x300') == (400, 300)
    for bad in ('400', '0x3', 'ax3', '4x3x2'):
        with pytest.raises(ValueError, match=repr(bad)):
            image_size(bad)


def test_deployment_cases_are_named_by_file():
    (case, ) = deployment_cases([[CONFIG, '8X16']])
    assert case == ('lg-atss_r50_fpn_1x_coco', osp.abspath(CONFIG), (8, 16))


@pytest.fixture
def calls(monkeypatch):
    """run_deployment_benchmark recorded instead of run."""
    seen = []

    def fake(models=(), text_encoder_config=None, **kwargs):
        seen.append((tuple(models), text_encoder_config, kwargs))
        return dict(models=[], text_encoder=None)

    monkeypatch.setattr(deployment, 'run_deployment_benchmark', fake)
    return seen


def tiny(quick=True) -> BenchmarkSettings:
    return BenchmarkSettings(quick=quick, device='cpu')


def test_runner_passes_the_models(calls):
    models = (('mine', CONFIG, (8, 8)), )
    result = run_benchmark(settings=tiny(), sections=(),
                           configure_allocator=False,
                           deployment_models=models,
                           text_encoder_config=CONFIG)
    assert calls == [(models, CONFIG, dict(quick=True))]
    assert result['deployment'] == dict(models=[], text_encoder=None)


def test_quick_run_without_models_skips_with_a_message(calls):
    result = run_benchmark(settings=tiny(), sections=(),
                           configure_allocator=False)
    assert calls == [] and result['deployment'] is None
    assert any('--deployment-config' in m for m in result['messages'])
    run_benchmark(settings=tiny(quick=False), sections=(),
                  configure_allocator=False)
    assert calls == [((), None, dict(quick=False))]


def test_options_replace_the_callers_defaults(monkeypatch, tmp_path):
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return dict(keys={}, met={}, goals={}, messages=[], seconds=0.0)

    monkeypatch.setattr(runner, 'run_benchmark', fake)
    defaults = (('default', 'x.py', (1, 1)), )
    main(['--quick', '--sections'], deployment_models=defaults,
         text_encoder_config='y.py')
    assert seen['deployment_models'] == defaults
    assert seen['text_encoder_config'] == 'y.py'
    assert seen['sections'] == ()
    main(['--quick', '--sections', '--deployment-config', CONFIG, '8x9',
          '--text-encoder-config', CONFIG],
         deployment_models=defaults, text_encoder_config='y.py')
    assert seen['deployment_models'] == (('lg-atss_r50_fpn_1x_coco',
                                          osp.abspath(CONFIG), (8, 9)), )
    assert seen['text_encoder_config'] == osp.abspath(CONFIG)


def test_the_tools_default_models_exist():
    tool = runpy.run_path(osp.join(ROOT, 'tools', 'benchmark',
                                   'benchmark.py'))
    deployment.check_cases(tool['DEMO_MODELS'])
    deployment.check_config(tool['TEXT_ENCODER_CONFIG'], 'tool')
