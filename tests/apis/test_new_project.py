"""new_project (mmvlm.apis.new_project, tools/misc/new_project.py): the
generated configs inherit the demo recipes, override the whole data
section, and cannot hit the three traps of issue 13; a tiny generated
detection set is checked, configured and trained for 2 iterations with
tools/train.py."""
import json
import os
import os.path as osp
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


def test_det_configs_inherit_and_choose_from_data(det_project):
    for path, base in ((det_project.lg_config,
                        'lg-atss_r18-tiny_minilm_trees.py'),
                       (det_project.stock_config, 'atss_r18-tiny_trees.py')):
        text = _text(path)
        assert "_base_ = '" in text and base in text
        assert 'LoadImageFromFile' not in text  # no copied pipelines
        cfg = Config.fromfile(path)
        assert cfg.model.bbox_head.num_classes == 1
        assert cfg.image_size == 64 and cfg.batch_size == 4
        assert cfg.train_cfg.max_iters == det_project.settings['max_iters']
        assert cfg.param_scheduler[1].end == cfg.train_cfg.max_iters
    lg = Config.fromfile(det_project.lg_config)
    assert lg.model.type == 'LanguageGuidedDetector'
    for pipeline in (lg.train_dataloader.dataset.pipeline,
                     lg.val_dataloader.dataset.pipeline):
        texts = [s for s in pipeline if s.type == 'LoadClassTexts']
        assert tuple(texts[0].classes) == ('cell nucleus', )
    # the json's names stay the dataset classes (CocoDataset matches them)
    assert lg.train_dataloader.dataset.metainfo.classes == ('nucleus', )
    assert det_project.commands[0].startswith('python tools/train.py ')


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


def test_trap3_seg_pad_size_from_data(seg_project):
    for path in (seg_project.lg_config, seg_project.stock_config):
        cfg = Config.fromfile(path)
        size = cfg.model.data_preprocessor.size
        # longest side 48 -> image size 64; x1.1 = 70.4 -> pad to 96
        assert tuple(size) == (96, 96) != (256, 224)
        resize = [s for s in cfg.train_dataloader.dataset.pipeline
                  if s.type == 'RandomResize'][0]
        largest = max(resize.scale) * max(resize.ratio_range)
        assert largest <= min(size)
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
# The three traps of issue 13 in hand-written configs: check_config names
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
    text = _text(det_project.lg_config)
    user = tmp_path / 'user.py'
    user.write_text(text.replace("'{{fileDirname}}/", repr(
        osp.dirname(det_project.lg_config) + '/')[:-1]) +
        '\ntrain_dataloader = dict(dataset=dict(pipeline=train_pipeline))\n')
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
    assert schedule_from(10)[1] == 150  # about 50 epochs
    with pytest.raises(ValueError, match='max_iters=1: .*max_iters >= 2'):
        schedule_from(10, max_iters=1)
