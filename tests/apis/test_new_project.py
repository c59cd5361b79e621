"""new_project (mmvlm.apis.new_project, tools/misc/new_project.py): the
generated configs hold the demo's pretrained recipe whole (equal to the
demo's configs, without reading projects/), write the whole data section,
and cannot hit the three traps of copying a config by hand; a re-run keeps
the files the user edited; held-out names are ignored in training and
asked at test time; tiny generated sets are checked, configured and
trained for 2 iterations with tools/train.py."""
import json
import os
import os.path as osp
import shlex
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmvlm.apis.new_project import DataCheckError, new_project

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BRAIN = osp.join(ROOT, 'projects', 'demo', 'configs', 'fpn_r18-tiny_brain.py')

BOXES = [[(4, 4, 20, 20)], [(30, 10, 20, 30)], [(8, 30, 16, 16)],
         [(40, 40, 20, 20), (4, 4, 12, 12)]]


def make_det(root, boxes_per_image=BOXES, size=64, name='nucleus'):
    """Coloured rectangles on grey 64x64 images and a COCO json."""
    img_dir = osp.join(root, 'images')
    os.makedirs(img_dir, exist_ok=True)
    images, anns = [], []
    for i, boxes in enumerate(boxes_per_image):
        img = np.full((size, size, 3), 60, np.uint8)
        for x, y, w, h in boxes:
            img[y:y + h, x:x + w] = (40, 40, 220)
        cv2.imwrite(osp.join(img_dir, f'{i}.png'), img)
        images.append(dict(id=i, file_name=f'{i}.png', width=size,
                           height=size))
        anns += [dict(id=len(anns) + k + 1, image_id=i, category_id=1,
                      bbox=list(b), area=b[2] * b[3], iscrowd=0)
                 for k, b in enumerate(boxes)]
    ann = osp.join(root, 'ann.json')
    with open(ann, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name=name)]), f)
    return ann, img_dir


def make_seg(root, n=4, size=(48, 40)):
    """Images with a bright square and label maps 0 / 1 (h x w = size)."""
    dirs = {}
    for split in ('train', 'val'):
        img_dir = osp.join(root, 'img_dir', split)
        ann_dir = osp.join(root, 'ann_dir', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for i in range(n):
            label = np.zeros(size, np.uint8)
            label[4 + i:20 + i, 6:22] = 1
            cv2.imwrite(osp.join(img_dir, f'{i}.png'),
                        np.stack([label * 200 + 30] * 3, -1))
            cv2.imwrite(osp.join(ann_dir, f'{i}.png'), label)
        dirs[split] = (img_dir, ann_dir)
    return dirs


@pytest.fixture
def det_project(tmp_path):
    ann, img_dir = make_det(str(tmp_path))
    return new_project('det', str(tmp_path / 'cells'), train=ann, val=ann,
                       img_dir=img_dir, prompts='cell nucleus')


@pytest.fixture
def seg_project(tmp_path):
    dirs = make_seg(str(tmp_path))
    return new_project(
        'seg', str(tmp_path / 'cells_seg'), img_dir=dirs['train'][0],
        ann_dir=dirs['train'][1], val_img_dir=dirs['val'][0],
        val_ann_dir=dirs['val'][1], classes='background. nucleus',
        prompts='background. cell nucleus')


def _text(path):
    with open(path) as f:
        return f.read()


DEMO = osp.join(ROOT, 'projects', 'demo', 'configs')


def _model_without_classes(cfg):
    model = cfg.model.to_dict()
    head = model.get('bbox_head') or model['decode_head']
    head.pop('num_classes')
    return model


@pytest.mark.parametrize('twin,demo', [
    ('lg', 'lg-atss_efficientnet-lite0_minilm_trees.py'),
    ('stock', 'atss_efficientnet-lite0_trees.py')])
def test_det_configs_hold_the_pretrained_recipe(det_project, twin, demo):
    """The demo's pretrained EfficientNet-Lite0 recipe (the README's
    numbers), written out whole: no path into projects/."""
    path = getattr(det_project, f'{twin}_config')
    text = _text(path)
    assert 'projects' not in text and 'r18' not in text
    cfg = Config.fromfile(path)
    reference = Config.fromfile(osp.join(DEMO, demo))
    assert _model_without_classes(cfg) == _model_without_classes(reference)
    assert cfg.model.bbox_head.num_classes == 1
    for key in ('optim_wrapper', 'custom_hooks', 'randomness'):
        assert cfg[key] == reference[key], key
    assert cfg.default_hooks.checkpoint == \
        reference.default_hooks.checkpoint
    assert cfg.param_scheduler[0].end == 20  # warm-up, as the demo's
    assert cfg.image_size == 64 and cfg.batch_size == 4
    assert cfg.train_cfg.max_iters == det_project.settings['max_iters']
    assert cfg.param_scheduler[1].end == cfg.train_cfg.max_iters
    assert det_project.commands[0].startswith('python tools/train.py ')


@pytest.mark.parametrize('twin,demo', [
    ('lg', 'lg-fpn_efficientnet-lite0_minilm_brain.py'),
    ('stock', 'fpn_efficientnet-lite0_brain.py')])
def test_seg_configs_hold_the_pretrained_recipe(seg_project, twin, demo):
    cfg = Config.fromfile(getattr(seg_project, f'{twin}_config'))
    reference = Config.fromfile(osp.join(DEMO, demo))
    assert _model_without_classes(cfg) == _model_without_classes(reference)
    assert cfg.model.decode_head.num_classes == 2


def test_det_configs_prompt_with_the_prompts_file(det_project):
    lg = Config.fromfile(det_project.lg_config)
    assert lg.model.type == 'LanguageGuidedDetector'
    for pipeline in (lg.train_dataloader.dataset.pipeline,
                     lg.val_dataloader.dataset.pipeline):
        texts = [s for s in pipeline if s.type == 'LoadClassTexts']
        assert tuple(texts[0].classes) == ('cell nucleus', )
    # the json's names stay the dataset classes (CocoDataset matches them)
    assert lg.train_dataloader.dataset.metainfo.classes == ('nucleus', )


def test_schedule_is_sized_to_the_data_with_a_time_estimate(tmp_path):
    """10 epochs within 100-1000 iterations (it was "about 50 epochs",
    500 iterations on the atlas: 13-45 min), and the time is printed."""
    from mmvlm.apis.new_project import schedule_from, time_estimate
    assert schedule_from(10) == (4, 100)
    assert schedule_from(100) == (4, 250)
    assert schedule_from(5000) == (4, 1000)
    minutes, sentence = time_estimate('seg', 4, 224, 150)
    # the demo: 150 iterations of 4 brain slices, 143 CPU s with loading
    assert 2 <= minutes <= 3 and 'min' in sentence
    ann, img_dir = make_det(str(tmp_path))
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'misc', 'new_project.py'), 'det',
        '--train', ann, '--val', ann, '--img-dir', img_dir,
        '--out-dir', str(tmp_path / 'out')
    ], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '100 iterations (--max-iters): about' in proc.stdout
    assert 'min per model on one free CPU thread' in proc.stdout
    text = _text(str(tmp_path / 'out' / 'lg_out.py'))
    assert 'about 50 epochs' not in text and '--max-iters' in text


def test_trap1_no_base_data_left(det_project):
    """Trap 1: nothing of the demo's data section survives."""
    for path in (det_project.lg_config, det_project.stock_config):
        cfg = Config.fromfile(path)
        for loader in (cfg.train_dataloader, cfg.val_dataloader,
                       cfg.test_dataloader):
            ds = loader.dataset
            assert ds.ann_file == det_project.settings['train']
            assert ds.data_prefix.img == det_project.settings['img_dir']
            assert 'tree' not in str(ds)
        assert cfg.val_evaluator.ann_file == det_project.settings['val']
        assert 'trees' not in cfg.pretty_text.replace(
            'lg-atss_r18-tiny_minilm_trees', '')


def test_trap2_palette_sized_to_classes(det_project, seg_project):
    for project in (det_project, seg_project):
        for path in (project.lg_config, project.stock_config):
            meta = Config.fromfile(path).train_dataloader.dataset.metainfo
            assert len(meta.palette) == len(meta.classes)
    mmseg_datasets = pytest.importorskip('mmseg.datasets')
    cfg = Config.fromfile(seg_project.stock_config)
    ds_cfg = dict(cfg.train_dataloader.dataset)
    ds_cfg.pop('type')
    ds_cfg['pipeline'] = []
    dataset = mmseg_datasets.BaseSegDataset(**ds_cfg)  # palette accepted
    assert len(dataset) == 4
    assert dataset.metainfo['palette'][0] == (0, 0, 0)


def test_trap3_seg_pads_to_a_multiple_of_32(seg_project):
    """No fixed pad size that the data could outgrow."""
    for path in (seg_project.lg_config, seg_project.stock_config):
        cfg = Config.fromfile(path)
        assert cfg.model.data_preprocessor.size is None
        assert cfg.model.data_preprocessor.size_divisor == 32
        assert cfg.model.decode_head.num_classes == 2


def test_errors_stop_before_writing(tmp_path):
    ann, img_dir = make_det(str(tmp_path))
    os.remove(osp.join(img_dir, '2.png'))
    out = tmp_path / 'out'
    with pytest.raises(DataCheckError, match='2.png'):
        new_project('det', str(out), train=ann, val=ann, img_dir=img_dir)
    assert not out.exists()
    with pytest.raises(DataCheckError, match='unknown'):
        new_project('det', str(out), train=ann, val=ann, img_dir=img_dir,
                    prompts='\U0001F9A0')
    with pytest.raises(DataCheckError, match='one prompt per category'):
        make_det(str(tmp_path))
        new_project('det', str(out), train=ann, val=ann, img_dir=img_dir,
                    prompts='a. b')
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'misc', 'new_project.py'), 'det',
        '--train', ann, '--val', ann, '--img-dir', img_dir, '--prompts',
        'a. b', '--out-dir', str(out)
    ], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'Nothing written' in proc.stdout
    assert not out.exists()


def _run(cmd):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, (f'{" ".join(cmd)} failed:\n'
                                  f'{proc.stdout[-3000:]}\n'
                                  f'{proc.stderr[-6000:]}')
    return proc.stdout + proc.stderr


LOADER_OPTIONS = [
    'default_hooks.logger.interval=1',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False'
]


@pytest.mark.parametrize('twin', ['lg', 'stock'])
def test_det_walkthrough_trains_two_iterations(tmp_path, twin):
    """Tiny data -> new_project (CLI) -> tools/train.py, 2 iterations."""
    ann, img_dir = make_det(str(tmp_path))
    out = str(tmp_path / 'cells')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'misc', 'new_project.py'), 'det',
        '--train', ann, '--val', ann, '--img-dir', img_dir, '--prompts',
        'cell nucleus', '--out-dir', out, '--max-iters', '2'
    ])
    assert 'python tools/train.py' in log
    config = osp.join(out, f'{twin}_cells.py')
    work_dir = str(tmp_path / 'work')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir,
        '--cfg-options'
    ] + LOADER_OPTIONS)
    assert 'Iter(train) [2/2]' in log
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    # evaluated at the end (a 2-iteration stock model may find no box)
    assert 'Evaluating bbox' in log


@pytest.mark.parametrize('twin', ['lg', 'stock'])
def test_seg_walkthrough_trains_two_iterations(tmp_path, twin):
    """Tiny label maps -> new_project (CLI) -> tools/train.py, 2 iters."""
    pytest.importorskip('mmseg')
    dirs = make_seg(str(tmp_path))
    out = str(tmp_path / 'cells_seg')
    _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'misc', 'new_project.py'), 'seg',
        '--img-dir', dirs['train'][0], '--ann-dir', dirs['train'][1],
        '--val-img-dir', dirs['val'][0], '--val-ann-dir', dirs['val'][1],
        '--classes', 'background. nucleus', '--out-dir', out,
        '--max-iters', '2', '--batch-size', '2'
    ])
    work_dir = str(tmp_path / 'work')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(out, f'{twin}_cells_seg.py'), '--work-dir', work_dir,
        '--cfg-options'
    ] + LOADER_OPTIONS)
    assert 'Iter(train) [2/2]' in log
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert 'mIoU' in log


# --------------------------------------------------------------------------
# Three traps of hand-written configs: check_config names
# each and its fix; the generated configs are free of them by construction.
def test_generated_configs_pass_check_config(det_project, seg_project):
    from mmvlm.apis.new_project import check_config
    for project in (det_project, seg_project):
        assert not [f for f in project.findings if f.level == 'error']
        for path in (project.lg_config, project.stock_config):
            assert check_config(Config.fromfile(path)) == []


def test_trap1_replaced_data_section_is_caught(det_project, tmp_path):
    """The demo's trailing `train_dataloader = dict(dataset=dict(
    pipeline=...))` copied below the user's data section."""
    from mmvlm.apis.new_project import check_config
    s = det_project.settings
    user = tmp_path / 'user.py'
    user.write_text('\n'.join([
        f"_base_ = {osp.join(DEMO, 'lg-atss_r18-tiny_minilm_trees.py')!r}",
        "metainfo = dict(classes=('nucleus', ), palette=[(0, 0, 0)])",
        'val_dataloader = dict(dataset=dict(',
        f"    data_root='', ann_file={s['val']!r}, metainfo=metainfo,",
        f"    data_prefix=dict(img={s['img_dir']!r})))",
        f"val_evaluator = dict(ann_file={s['val']!r})",
        'test_dataloader = val_dataloader',
        'test_evaluator = val_evaluator',
        'train_dataloader = dict(dataset=dict('
        '    pipeline=_base_.train_pipeline))'
    ]) + '\n')
    findings = check_config(Config.fromfile(str(user)))
    errors = [f for f in findings if f.level == 'error']
    # (and, where the demo data is absent, its json is named as missing)
    assert {f.where for f in errors} == {'train_dataloader.dataset'}
    message = ' '.join(f.message for f in errors)
    assert "trains on the classes ['tree'] but validates on ['nucleus']" \
        in message
    assert 'below your data section replaced it' in message
    # the prompts file and the json disagree: named, with the fix
    bad = tmp_path / 'prompts.yaml'
    bad.write_text('classes: [{name: cell, prompt: cell nucleus}]\n')
    ann, img_dir = make_det(str(tmp_path / 'd'))
    from mmvlm.structures import PromptsFileMismatchError
    with pytest.raises(PromptsFileMismatchError,
                       match=r"missing from the file: \['nucleus'\]"):
        new_project('det', str(tmp_path / 'p'), train=ann, val=ann,
                    img_dir=img_dir, prompts=str(bad), check_tokens=False)
    assert not (tmp_path / 'p').exists()


def test_trap2_inherited_palette_is_caught(tmp_path):
    """Inheriting the brain config with a 2-class metainfo keeps its
    13-colour palette."""
    from mmvlm.apis.new_project import check_config
    user = tmp_path / 'user.py'
    user.write_text(
        f"_base_ = {str(BRAIN)!r}\n"
        "metainfo = dict(classes=('background', 'nucleus'))\n"
        'train_dataloader = dict(dataset=dict(metainfo=metainfo))\n')
    cfg = Config.fromfile(str(user))
    errors = [f for f in check_config(cfg) if 'palette' in f.message]
    assert errors and errors[0].where == 'train_dataloader.dataset.metainfo'
    assert '13 colours for 2 classes' in errors[0].message
    assert '_delete_=True' in errors[0].message


def test_trap3_pad_size_of_the_base_is_caught(tmp_path):
    """The brain config pads to 256 x 224; the user's images are larger."""
    from mmvlm.apis.new_project import check_config
    dirs = make_seg(str(tmp_path), n=2, size=(300, 200))
    img_dir, ann_dir = dirs['train']
    user = tmp_path / 'user.py'
    user.write_text(
        f"_base_ = {str(BRAIN)!r}\n"
        "metainfo = dict(classes=('background', 'nucleus'),\n"
        "                palette=[(0, 0, 0), (255, 0, 0)])\n"
        'train_dataloader = dict(dataset=dict(\n'
        "    data_root='', metainfo=metainfo, img_suffix='.png',\n"
        f"    data_prefix=dict(img_path={img_dir!r},\n"
        f"                     seg_map_path={ann_dir!r}),\n"
        '    pipeline=[\n'
        "        dict(type='LoadImageFromFile'),\n"
        "        dict(type='RandomResize', scale=(300, 300),\n"
        "             ratio_range=(0.9, 1.1), keep_ratio=True)]))\n")
    errors = [f for f in check_config(Config.fromfile(str(user)))
              if f.where == 'model.data_preprocessor.size']
    assert len(errors) == 1
    # 300 x 200 images -> long side 300 * 1.1 = 330 -> pad to 352 x 224
    assert 'pads to (256, 224)' in errors[0].message
    assert 'up to (330, 220)' in errors[0].message
    assert 'size=(352, 224)' in errors[0].message


def test_generated_recipe_trains_with_negative_prompts(det_project):
    """Item 6: each training sample also carries names of other things
    (LVIS / COCO, offline), never a word of the class's own prompts."""
    from mmvlm.visualization.dataset_browser import build_dataset
    cfg = Config.fromfile(det_project.lg_config)
    np.random.seed(0)
    sample = build_dataset(cfg, 'train')[0]['data_samples']
    texts, ids = sample.metainfo['text'], sample.metainfo['text_label_ids']
    valid = [t for t, m in zip(texts, sample.metainfo['text_mask']) if m]
    assert 'cell nucleus' in valid and 9 <= len(valid) <= 17
    negatives = [t for t, i in zip(texts, ids) if t and i == -1]
    assert len(negatives) == len(valid) - 1
    assert not any({'cell', 'nucleus'} & set(t.split()) for t in negatives)
    own = texts.index('cell nucleus')
    assert set(sample.gt_instances.labels.tolist()) == {own}
    stock = Config.fromfile(det_project.stock_config)
    assert 'RandomSampleNegativeTexts' not in str(
        stock.train_dataloader.dataset.pipeline)


def test_schedule_needs_two_iterations():
    """One iteration cannot hold the warm-up and the cosine phase: the
    error names the value and the fix instead of a scheduler failure at
    the start of training."""
    from mmvlm.apis.new_project import schedule_from
    assert schedule_from(10, max_iters=2) == (4, 2)
    with pytest.raises(ValueError, match='max_iters=1: .*max_iters >= 2'):
        schedule_from(10, max_iters=1)


# --------------------------------------------------------------------------
# Re-running never loses an edit.
def _seg_args(dirs):
    return dict(img_dir=dirs['train'][0], ann_dir=dirs['train'][1],
                val_img_dir=dirs['val'][0], val_ann_dir=dirs['val'][1],
                classes='background. nucleus', check_tokens=False)


def test_rerun_keeps_an_edited_prompts_file(tmp_path):
    """Re-running (here to change --max-iters) used to overwrite the
    prompts file the user had edited to add synonyms, without a word."""
    dirs = make_seg(str(tmp_path))
    out = tmp_path / 'cells_seg'
    first = new_project('seg', str(out), max_iters=10, **_seg_args(dirs))
    prompts = out / 'prompts_cells_seg.yaml'
    edited = _text(str(prompts)).replace(
        'prompt: nucleus', 'prompt: nucleus\n  synonyms: [cell nucleus]')
    assert edited != _text(str(prompts))
    prompts.write_text(edited)
    second = new_project('seg', str(out), max_iters=20, **_seg_args(dirs))
    assert _text(str(prompts)) == edited  # kept
    fresh = out / 'prompts_cells_seg.new.yaml'
    assert fresh.exists() and 'cell nucleus' not in _text(str(fresh))
    warnings = [f for f in second.findings if f.level == 'warning']
    assert len(warnings) == 1 and str(fresh) in warnings[0].message
    # the configs were not edited: rewritten with the new schedule, and
    # they read the kept file
    cfg = Config.fromfile(second.lg_config)
    assert cfg.train_cfg.max_iters == 20
    texts = [s for s in cfg.train_dataloader.dataset.pipeline
             if s.type == 'LoadClassTexts'][0].classes
    assert tuple(texts[1]) == ('nucleus', 'cell nucleus')
    assert first.lg_config == second.lg_config
    # an unedited file is rewritten without a warning
    third = new_project('seg', str(out), max_iters=30, **_seg_args(dirs))
    assert not [f for f in third.findings if f.level == 'warning'
                and 'prompts_cells_seg.yaml' not in f.where]


def test_rerun_keeps_an_edited_config_and_refuses_a_mismatched_prompts_file(
        tmp_path):
    dirs = make_seg(str(tmp_path))
    out = tmp_path / 'cells_seg'
    project = new_project('seg', str(out), max_iters=10, **_seg_args(dirs))
    config = out / 'lg_cells_seg.py'
    config.write_text(_text(project.lg_config) + '\n# my note\n')
    again = new_project('seg', str(out), max_iters=20, **_seg_args(dirs))
    assert _text(str(config)).endswith('# my note\n')
    assert (out / 'lg_cells_seg.new.py').exists()
    assert any('lg_cells_seg.new.py' in f.message for f in again.findings)
    # a kept prompts file that no longer names the classes: stop, write
    # nothing
    prompts = out / 'prompts_cells_seg.yaml'
    prompts.write_text('classes: [background, cell]\n')
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError, match='does not match'):
        new_project('seg', str(out), max_iters=30, **_seg_args(dirs))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --------------------------------------------------------------------------
# Held-out names.
def make_seg_three(root, n=4, size=(48, 40)):
    """Label maps 0 background, 1 nucleus (left), 2 dust (right)."""
    dirs = {}
    for split in ('train', 'val'):
        img_dir = osp.join(root, 'img_dir', split)
        ann_dir = osp.join(root, 'ann_dir', split)
        os.makedirs(img_dir)
        os.makedirs(ann_dir)
        for i in range(n):
            label = np.zeros(size, np.uint8)
            label[4 + i:20 + i, 2:14] = 1
            label[20:36, 24:36] = 2
            label[46:] = 255
            cv2.imwrite(osp.join(img_dir, f'{i}.png'),
                        np.stack([label * 90 + 20] * 3, -1))
            cv2.imwrite(osp.join(ann_dir, f'{i}.png'), label)
        dirs[split] = (img_dir, ann_dir)
    return dirs


def test_held_out_seg_pixels_are_ignored_in_training_and_asked_at_test(
        tmp_path):
    dirs = make_seg_three(str(tmp_path))
    out = tmp_path / 'cells_seg'
    project = new_project(
        'seg', str(out), img_dir=dirs['train'][0], ann_dir=dirs['train'][1],
        val_img_dir=dirs['val'][0], val_ann_dir=dirs['val'][1],
        classes='background. dust. nucleus', check_tokens=False,
        held_out=['dust'])
    # training label maps: dust (1) -> 255, nucleus 2 -> 1 (seen order)
    original = cv2.imread(osp.join(dirs['train'][1], '0.png'), 0)
    seen = cv2.imread(str(out / 'seen_labels' / 'train' / '0.png'), 0)
    assert set(np.unique(seen)) == {0, 1, 255}
    assert (seen[original == 1] == 255).all()
    assert (seen[original == 2] == 1).all()
    assert (seen[original == 0] == 0).all()
    assert cv2.imread(osp.join(dirs['train'][1], '0.png'), 0).tolist() == \
        original.tolist()  # the user's data is not touched
    lg = Config.fromfile(project.lg_config)
    assert lg.train_dataloader.dataset.metainfo.classes == (
        'background', 'nucleus')
    texts = [s for s in lg.train_dataloader.dataset.pipeline
             if s.type == 'LoadClassTexts'][0].classes
    assert [t if isinstance(t, str) else t[0] for t in texts] == [
        'background', 'nucleus']
    assert lg.val_dataloader.dataset.metainfo.classes == (
        'background', 'nucleus')
    test = lg.test_dataloader.dataset
    assert test.metainfo.classes == ('background', 'dust', 'nucleus')
    assert test.data_prefix.seg_map_path == dirs['val'][1] + os.sep
    assert len(test.metainfo.palette) == 3
    stock = Config.fromfile(project.stock_config)
    assert stock.test_dataloader.dataset.metainfo.classes == (
        'background', 'nucleus')
    assert stock.model.decode_head.num_classes == 2
    assert project.commands[2] == (
        f'python tools/test.py {project.lg_config} '
        f'work_dirs/cells_seg/lg/iter_{project.settings["max_iters"]}.pth '
        '--prompts "dust" --prompt-mode each')
    with pytest.raises(ValueError, match='label 0, the background'):
        new_project('seg', str(out), img_dir=dirs['train'][0],
                    ann_dir=dirs['train'][1], val_img_dir=dirs['val'][0],
                    val_ann_dir=dirs['val'][1], check_tokens=False,
                    classes='background. dust. nucleus',
                    held_out=['background'])
    with pytest.raises(ValueError, match=r"\['cells'\] are not classes"):
        new_project('seg', str(out), img_dir=dirs['train'][0],
                    ann_dir=dirs['train'][1], val_img_dir=dirs['val'][0],
                    val_ann_dir=dirs['val'][1], check_tokens=False,
                    classes='background. dust. nucleus', held_out=['cells'])


def test_held_out_det_boxes_are_dropped_in_training(tmp_path):
    root = str(tmp_path)
    ann, img_dir = make_det(root)
    with open(ann) as f:
        coco = json.load(f)
    coco['categories'].append(dict(id=2, name='dust'))
    coco['annotations'][0]['category_id'] = 2
    with open(ann, 'w') as f:
        json.dump(coco, f)
    project = new_project('det', str(tmp_path / 'cells'), train=ann,
                          val=ann, img_dir=img_dir, check_tokens=False,
                          held_out='dust')
    seen_json = tmp_path / 'cells' / 'seen_labels' / 'train.json'
    seen = json.loads(seen_json.read_text())
    assert [c['name'] for c in seen['categories']] == ['nucleus']
    assert len(seen['annotations']) == len(coco['annotations']) - 1
    assert len(seen['images']) == len(coco['images'])
    lg = Config.fromfile(project.lg_config)
    assert lg.train_dataloader.dataset.ann_file == str(seen_json)
    assert lg.train_dataloader.dataset.metainfo.classes == ('nucleus', )
    assert lg.test_dataloader.dataset.metainfo.classes == ('nucleus', 'dust')
    assert lg.test_evaluator.ann_file == project.settings['train']
    assert lg.val_evaluator.ann_file == str(seen_json)


def write_volumes(root):
    """A synthetic T1-like volume (2 mm, RAS) and an atlas on another grid
    (1 mm, x flipped): 1 'left box', 2 'right box', 3 'far box'."""
    nib = pytest.importorskip('nibabel')
    os.makedirs(root, exist_ok=True)
    grids = dict(
        t1=(np.array([[2., 0, 0, -20], [0, 2, 0, -24], [0, 0, 2, -16],
                      [0, 0, 0, 1]]), (20, 24, 16)),
        atlas=(np.array([[-1., 0, 0, 25], [0, 1, 0, -30], [0, 0, 1, -20],
                         [0, 0, 0, 1]]), (52, 60, 44)))
    volumes = {}
    for name, (affine, shape) in grids.items():
        ijk = np.stack(list(np.meshgrid(*[np.arange(n) for n in shape],
                                        indexing='ij')) + [np.ones(shape)])
        x, y, z = np.tensordot(affine, ijk, axes=1)[:3]
        label = np.zeros(shape, np.int16)
        body = (np.abs(y) < 10) & (np.abs(z) < 8)
        label[body & (x > -16) & (x < -4)] = 1
        label[body & (x > 4) & (x < 16)] = 2
        label[(np.abs(x) < 6) & (y > 12) & (y < 20) & (np.abs(z) < 8)] = 3
        data = (100 + 300 * label + x).astype(np.float32) \
            if name == 't1' else label
        path = osp.join(root, f'{name}.nii.gz')
        nib.save(nib.Nifti1Image(data, affine), path)
        volumes[name] = path
    names = osp.join(root, 'names.txt')
    with open(names, 'w') as f:
        f.write('0 Unclassified\n1 left box\n2 right box\n3 far box\n')
    return volumes['t1'], volumes['atlas'], names


def test_medical_walkthrough_from_volumes_to_held_out_scores(tmp_path):
    """docs/own_data.md for a medical user, on synthetic NIfTI volumes:
    volume_to_mmseg.py (held-out name) -> the printed check_dataset.py
    command -> the printed new_project.py command -> tools/train.py (2
    iterations) -> the printed per-prompt test command, each held-out name
    scored binary against the background -> export_onnx.py (checked against
    mmseg on a test slice) -> run_onnx.py without torch."""
    pytest.importorskip('mmseg')
    t1, atlas, names = write_volumes(str(tmp_path / 'raw'))
    data = str(tmp_path / 'boxes')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'dataset_converters', 'volume_to_mmseg.py'),
        '--image', t1, '--labels', atlas, '--names', names, '--out-dir',
        data, '--gap', '1', '--held-out', 'far box'
    ])
    lines = log.strip().splitlines()
    check = shlex.split(lines[lines.index('check the training split:') + 1])
    _run([sys.executable, osp.join(ROOT, check[1])] + check[2:])
    command = shlex.split(lines[-1])
    out = str(tmp_path / 'configs' / 'boxes')
    command[command.index('--out-dir') + 1] = out
    log = _run([sys.executable, osp.join(ROOT, command[1])] + command[2:] +
               ['--max-iters', '2', '--batch-size', '2'])
    assert "held out (never trained on, asked at test time): ['far box']" \
        in log
    test_command = shlex.split(log.strip().splitlines()[-1])
    assert test_command[:2] == ['python', 'tools/test.py']
    work_dir = str(tmp_path / 'work')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(out, 'lg_boxes.py'), '--work-dir', work_dir,
        '--cfg-options'
    ] + LOADER_OPTIONS)
    assert 'Iter(train) [2/2]' in log
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert test_command[3].endswith('iter_2.pth')
    test_command[3] = checkpoint
    _run([sys.executable, osp.join(ROOT, test_command[1])] +
         test_command[2:] + ['--work-dir', work_dir, '--cfg-options',
                             'test_dataloader.num_workers=0',
                             'test_dataloader.persistent_workers=False'])
    rows = json.loads(open(osp.join(work_dir, 'prompts.json')).read())
    assert [(r['prompt'], r['class'], r['vocabulary']) for r in rows] == [
        ('far box', 'far box', ['background', 'far box'])]
    # export with the vocabulary of the test split, checked against
    # mmseg on a test slice, then run without torch
    test_images = osp.join(data, 'img_dir', 'test')
    image = osp.join(test_images, sorted(os.listdir(test_images))[0])
    export = str(tmp_path / 'export')
    log = _run([
        sys.executable,
        osp.join(ROOT, 'tools', 'deployment', 'export_onnx.py'),
        osp.join(out, 'lg_boxes.py'), checkpoint, '--out-dir', export,
        '--check-image', image
    ])
    counts = json.loads(
        _run([
            sys.executable,
            osp.join(ROOT, 'tools', 'deployment', 'run_onnx.py'), export,
            image
        ]).strip().splitlines()[-1])
    assert sum(counts.values()) > 0
