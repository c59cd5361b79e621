"""The stock mmpretrain ``tools/train.py`` / ``test.py`` (shipped in the
wheel's ``.mim``) train and test mmvlm classifiers through
``custom_imports=dict(imports=['mmvlm'])``.

mmpretrain lives in its own environment, ``.venv-mmpretrain`` (built by
``tools/env/setup_mmpretrain_env.sh``; docs/image_level.md says why). Run
from the main environment, :func:`test_mmpretrain_suite_in_its_environment`
runs this folder's mmpretrain tests (this file included) with that
environment's Python; run there, the tools test runs directly.
"""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
PRETRAIN_VENV = os.environ.get('MMVLM_PRETRAIN_VENV',
                               osp.join(ROOT, '.venv-mmpretrain'))
PRETRAIN_PYTHON = osp.join(PRETRAIN_VENV, 'bin', 'python')
HAS_MMPRETRAIN = importlib.util.find_spec('mmpretrain') is not None
MMPRETRAIN_TESTS = ('tests/models/cls_heads', 'tests/models/classifiers')
NO_ENV = ('mmpretrain is not installed here and .venv-mmpretrain is '
          'missing: build it with bash tools/env/setup_mmpretrain_env.sh')


@pytest.mark.skipif(HAS_MMPRETRAIN,
                    reason='mmpretrain is installed in this environment: '
                    'its tests run directly')
@pytest.mark.skipif(not osp.isfile(PRETRAIN_PYTHON), reason=NO_ENV)
def test_mmpretrain_suite_in_its_environment():
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    result = subprocess.run([
        PRETRAIN_PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
        *MMPRETRAIN_TESTS
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=900)
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    # only this test skips itself there
    assert '1 skipped' in result.stdout.splitlines()[-1], tail


def write_tiny_set(root: str) -> str:
    """Two colour classes, 6 train / 4 val images each (32 x 32 PNG)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    colours = {'red': (200, 30, 30), 'blue': (30, 30, 200)}
    for split, count in (('train', 6), ('val', 4)):
        for name, rgb in colours.items():
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                noise = rng.integers(-30, 30, (32, 32, 3))
                pixels = np.clip(np.array(rgb) + noise, 0, 255)
                Image.fromarray(pixels.astype('uint8')).save(
                    osp.join(folder, f'{i}.png'))
    return root


def tiny_config(data_root: str, model: dict) -> str:
    """A config inheriting mmpretrain's runtime, 2 epochs on the set."""
    return textwrap.dedent(f'''
        _base_ = ['mmpretrain::_base_/default_runtime.py']
        custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
        default_scope = 'mmpretrain'
        model = {model!r}
        data_preprocessor = dict(num_classes=2, mean=[127.5] * 3,
                                 std=[64.0] * 3, to_rgb=True)
        pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
        train_dataloader = dict(
            batch_size=4, num_workers=0, persistent_workers=False,
            dataset=dict(type='CustomDataset', data_root='{data_root}',
                         data_prefix='train', pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=True))
        val_dataloader = dict(
            batch_size=4, num_workers=0, persistent_workers=False,
            dataset=dict(type='CustomDataset', data_root='{data_root}',
                         data_prefix='val', pipeline=pipeline),
            sampler=dict(type='DefaultSampler', shuffle=False))
        test_dataloader = val_dataloader
        val_evaluator = dict(type='Accuracy', topk=(1, ))
        test_evaluator = val_evaluator
        optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
        train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
        val_cfg = dict()
        test_cfg = dict()
        default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                             checkpoint=dict(type='CheckpointHook',
                                             interval=2))
        randomness = dict(seed=0)
    ''')


def language_guided_model() -> dict:
    from mmvlm.testing import tiny_text_encoder_cfg
    return dict(type='LanguageGuidedImageClassifier',
                backbone=dict(type='ResNet',
                              depth=18,
                              base_channels=8,
                              stem_channels=8,
                              out_indices=(3, )),
                neck=dict(type='LLMPrefixNeck',
                          neck=dict(type='GlobalAveragePooling'),
                          text_encoder=tiny_text_encoder_cfg('bert',
                                                             embed_dims=16)),
                head=dict(type='LanguageGuidedClsHead',
                          num_classes=2,
                          in_channels=64,
                          embed_dims=16),
                vocabulary=['blue',
                            'red'])  # CustomDataset: sorted folder names


@pytest.mark.skipif(not HAS_MMPRETRAIN,
                    reason='runs in .venv-mmpretrain (through '
                    'test_mmpretrain_suite_in_its_environment)')
def test_stock_train_and_test_tools(tmp_path):
    import mmpretrain
    tools = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')
    data_root = write_tiny_set(str(tmp_path / 'data'))
    config = tmp_path / 'lg_tiny.py'
    config.write_text(tiny_config(data_root, language_guided_model()))
    work = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    train = subprocess.run([
        sys.executable,
        osp.join(tools, 'train.py'),
        str(config), '--work-dir', work
    ],
                           cwd=ROOT,
                           env=env,
                           capture_output=True,
                           text=True,
                           timeout=600)
    assert train.returncode == 0, (train.stdout + train.stderr)[-4000:]
    checkpoint = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(checkpoint)
    test = subprocess.run([
        sys.executable,
        osp.join(tools, 'test.py'),
        str(config), checkpoint, '--work-dir', work
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = test.stdout + test.stderr
    assert test.returncode == 0, log[-4000:]
    assert 'accuracy/top1' in log
