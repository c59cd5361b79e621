"""configs/classification: each inherits mmpretrain:: bases and builds
(language models swapped for tiny random ones; needs mmpretrain)."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmpretrain',
                    reason='mmpretrain is not installed in '
                    'this environment (build .venv-mmpretrain with '
                    'tools/env/setup_mmpretrain_env.sh)')

from mmengine.config import Config  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

DEFAULT_SCOPE = 'mmpretrain'
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'classification',
                                    '*.py')))


def test_configs_exist():
    names = {osp.basename(c) for c in CONFIGS}
    assert {
        'lg-resnet18_minilm_8xb32_in1k.py',
        'frozen-smollm2_resnet18_8xb32_in1k.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    with open(path) as f:
        text = f.read()
    # mmpretrain:: bases, directly or through a sibling config
    assert 'mmpretrain::' in text or "_base_ = ['./" in text
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['mmvlm']
    model = cfg.model.to_dict()
    frozen = model['type'] == 'FrozenPrefixClassifier'
    if frozen:
        dims = model['text_encoder'].get('embed_dims')
        model['text_encoder'] = tiny_text_encoder_cfg(
            'gpt2', embed_dims=dims, hf_config=dict(tie_word_embeddings=True))
        model['visual_prefix']['num_heads'] = 1
    else:
        neck = model['neck']
        neck['text_encoder'] = tiny_text_encoder_cfg(
            'bert', embed_dims=model['head']['embed_dims'])
    built = MODELS.build(model)
    vocab = (built.batch_vocabulary(
        training=False) if frozen else built.vocabulary)
    assert len(vocab) in (1000, 20)  # ImageNet / VOC classes by name
    if not frozen:
        with torch.no_grad():
            built.set_vocabulary(['cat', 'dog'])
            logits = built(torch.randn(1, 3, 64, 64), mode='tensor')
        assert logits.shape == (1, 2)
