"""Test-wide settings: never reach a model hub, one CPU thread,
and give every test the mmengine default scope its module declares."""
import os

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
# One compute thread: the tests run tiny models, where intra-op threads mostly
# wait for each other (20x slower measured on a busy 2-core machine). Set
# before torch is imported so the stock-tool subprocesses inherit it too.
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def default_scope(request):
    """Run every test under the default scope its module declares, or none.

    A test module that builds through mmengine's root registries (a model's
    data preprocessor, a runner) sets ``DEFAULT_SCOPE = 'mmdet'`` or
    ``'mmseg'``. The scope is reset around every test: a scope left behind
    by one test (``init_default_scope``, an in-process run of a stock tool)
    would make ``mmseg.registry.MODELS.build`` look in mmdet's registry in
    the next one.
    """
    from mmengine.registry import DefaultScope
    DefaultScope._instance_dict.clear()
    scope = getattr(request.module, 'DEFAULT_SCOPE', None)
    if scope is not None:
        DefaultScope.get_instance(f'test-{scope}', scope_name=scope)
    yield
    DefaultScope._instance_dict.clear()
