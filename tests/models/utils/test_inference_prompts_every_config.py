"""Prompts given at inference are the ones scored, for every
language-guided config.

Every ``lg-*.py`` config of ``configs/`` and ``projects/*/configs/`` is
built with its own backbone, neck and heads (random weights, no download)
and a tiny random text encoder of the config's width; one image runs through
the config's *test* pipeline, whose ``LoadClassTexts`` / dataset
``return_classes`` puts the dataset's class names into the sample. With
``model.set_vocabulary(prompts)`` the model must score exactly the prompts
(number of classes, label ids drawn from them, scores that change with the
prompts), and score the dataset classes again once the override is cleared.
"""
import glob
import importlib
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')
pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.structures import Vocabulary  # noqa: E402
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
# every language-guided detection / segmentation config, the demo project's
# included (image-level configs/classification run in .venv-mmpretrain:
# tests/models/classifiers)
PATTERNS = ('configs/**/lg-*.py', 'projects/*/configs/**/lg-*.py')
CONFIGS = sorted({
    osp.relpath(path, ROOT)
    for pattern in PATTERNS
    for path in glob.glob(str(ROOT / pattern), recursive=True)
    if not {'_base_', 'classification'} & set(Path(path).parts)
})
SIZE = 96
PROMPTS = ('a red car', 'a person with an umbrella', 'a tree')
OTHER_PROMPTS = ('background', 'a small boat')


def test_configs_are_found():
    assert any(c.startswith('configs/detection') for c in CONFIGS)
    assert any(c.startswith('configs/segmentation') for c in CONFIGS)
    assert any('demo' in c for c in CONFIGS)


def tiny_text_encoder(cfg: Config) -> None:
    """The config's text encoder as a tiny random one of the same width."""
    encoder = cfg.model.neck.text_encoder
    decoder_only = 'smollm' in str(encoder.get('name_or_path'))
    keep = {
        k: encoder[k]
        for k in ('prefix_length', 'templates') if encoder.get(k) is not None
    }
    cfg.model.neck.text_encoder = tiny_text_encoder_cfg(
        'llama' if decoder_only else 'bert',
        embed_dims=encoder.embed_dims,
        **keep)


def dataset_of(cfg: Config):
    """The innermost dataset config of the test dataloader."""
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset and 'pipeline' not in dataset:
        dataset = dataset.dataset
    return dataset


def dataset_classes(dataset_cfg, scope: str) -> tuple:
    classes = (dataset_cfg.get('metainfo') or {}).get('classes')
    if classes:
        return tuple(classes)
    registry = importlib.import_module(f'{scope}.registry')
    return tuple(registry.DATASETS.get(dataset_cfg.type).METAINFO['classes'])


def pipeline_of(cfg: Config, scope: str) -> Compose:
    """The test dataloader's pipeline on an in-memory image, small."""
    steps = []
    for step in dataset_of(cfg).pipeline:
        step = step.copy()
        kind = step['type'].split('.')[-1]
        if kind == 'LoadImageFromFile':
            step = dict(type=f'{scope}.LoadImageFromNDArray')
        elif kind.startswith('LoadAnnotations') or kind == 'LoadWideSegMap':
            continue  # ground truth: not loaded at inference
        elif kind == 'Resize':
            step['scale'] = (SIZE, SIZE)
        steps.append(step)
    return Compose(steps)


def run(model, pipeline, classes, with_text: bool):
    rng = np.random.RandomState(0)
    results = dict(img=rng.randint(0, 255, (SIZE, SIZE, 3), np.uint8),
                   img_id=0,
                   img_path='prompt-test.png')
    if with_text:
        results['text'] = classes  # what return_classes=True gives
    data = pipeline(results)
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        return model.test_step(batch)[0]


def scored(head, result):
    """(number of classes scored, label ids, classifier output) of one
    prediction."""
    if 'pred_instances' in result:
        labels = result.pred_instances.labels
    else:
        labels = result.pred_sem_seg.data
    return head._num_scored, set(labels.unique().tolist()), head._logits


def record_scoring(head) -> None:
    """Remember the number of classes and the logits the classifier of
    ``head`` gave last."""

    def hook(module, args, out):
        head._num_scored = head.num_classes
        head._logits = out.detach().clone()

    head.classifier.register_forward_hook(hook)


def keep_every_detection(cfg: Config) -> None:
    test_cfg = cfg.model.get('test_cfg') or {}
    for part in (test_cfg, test_cfg.get('rcnn') or {}):
        if 'score_thr' in part:
            part['score_thr'] = 0.0


@pytest.mark.parametrize('config', CONFIGS)
def test_inference_prompts_are_the_ones_scored(config):
    cfg = Config.fromfile(str(ROOT / config))
    scope = cfg.default_scope
    tiny_text_encoder(cfg)
    keep_every_detection(cfg)
    dataset_cfg = dataset_of(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        registry = importlib.import_module(f'{scope}.registry')
        torch.manual_seed(0)
        model = registry.MODELS.build(cfg.model).eval()
        pipeline = pipeline_of(cfg, scope)
        classes = dataset_classes(dataset_cfg, scope)
        with_text = bool(dataset_cfg.get('return_classes')) or any(
            s['type'].endswith('LoadClassTexts') for s in dataset_cfg.pipeline)
        head = model.language_guided_heads[0]
        record_scoring(head)
        binary = getattr(head, 'binary', False)

        def predict():
            return scored(head, run(model, pipeline, classes, with_text))

        default = predict()
        prompts = OTHER_PROMPTS if binary else PROMPTS
        model.set_vocabulary(list(prompts))
        assert model.vocabulary.names == prompts
        num, labels, logits = predict()
        if not binary:
            assert num == len(prompts), (
                f'{config}: {num} classes scored for {len(prompts)} prompts')
        assert labels and labels <= set(range(len(prompts)))
        # another prompt, other scores
        other = list(prompts)
        other[1] = 'a dog on the grass'
        model.set_vocabulary(other)
        num2, labels2, logits2 = predict()
        assert num2 == num and labels2 <= set(range(len(prompts)))
        assert not torch.allclose(logits, logits2)
        # cleared: back to the samples' / configured vocabulary
        model.set_vocabulary(None)
        again = predict()
        assert again[0] == default[0]
        torch.testing.assert_close(again[2], default[2])
        expected = len(Vocabulary.parse(list(classes))) if with_text else \
            len(model.vocabulary)
        assert binary or default[0] == expected
