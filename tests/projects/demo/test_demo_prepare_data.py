"""Tests of the demo's data preparation (projects/demo/mmvlm_demo: trees,
brain, fetching, prepare_data) on synthetic input.

No network: the VOC files, images and NIfTI volumes are made here.
"""
import json

import numpy as np
import pytest
from PIL import Image

from projects.demo.mmvlm_demo import (brain, fetching, prepare_data, trees,
                                      vocabulary_splits)


def _write_voc(path, filename, width, height, objects):
    objs = ''.join(
        f'<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin>'
        f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>'
        f'</bndbox></object>' for n, b in objects)
    with open(path, 'w') as f:
        f.write(f'<annotation><filename>{filename}</filename><size>'
                f'<width>{width}</width><height>{height}</height><depth>3'
                f'</depth></size>{objs}</annotation>')


@pytest.mark.parametrize('name,expected', [
    ('Frontal_Mid_L', 'left middle frontal gyrus'),
    ('Hippocampus_R', 'right hippocampus'),
    ('Cerebelum_Crus1_L', 'left cerebellum crus I'),
    ('Cerebelum_4_5_R', 'right cerebellum lobules IV-V'),
    ('Vermis_7', 'vermis lobule VII'),
    ('Supp_Motor_Area_R', 'right supplementary motor area'),
    ('Unknown_Thing_L', 'left unknown thing'),
])
def test_aal_readable_name(name, expected):
    assert brain.aal_readable_name(name) == expected


def test_aal_readable_name_rejects_empty():
    with pytest.raises(ValueError, match='AAL region name'):
        brain.aal_readable_name('')


def test_parse_voc_and_degenerate_box(tmp_path):
    xml = tmp_path / 'a.xml'
    _write_voc(xml, 'a.png', 50, 40, [('Tree', (1, 2, 11, 12)),
                                      ('Dead', (20, 20, 30, 35))])
    ann = trees.parse_voc_xml(str(xml))
    assert (ann.width, ann.height, ann.filename) == (50, 40, 'a.png')
    assert ann.names == ['Tree', 'Dead']
    np.testing.assert_array_equal(ann.boxes[1], [20, 20, 30, 35])
    _write_voc(xml, 'a.png', 50, 40, [('Tree', (10, 2, 5, 12))])
    with pytest.raises(ValueError, match='degenerate box'):
        trees.parse_voc_xml(str(xml))


def test_tile_grid_drops_thin_edges():
    tiles = trees.tile_grid(250, 130, tile_size=100, min_size=40)
    # columns 0, 100, 200 (50 wide kept); rows 0 and 100 (30 high dropped)
    assert tiles == [(0, 0, 100, 100), (100, 0, 200, 100), (200, 0, 250, 100)]
    with pytest.raises(ValueError, match='min_size'):
        trees.tile_grid(10, 10, tile_size=5, min_size=6)


def test_crop_boxes_keeps_mostly_visible():
    boxes = np.array([[10, 10, 20, 20], [95, 10, 115, 20], [85, 10, 105, 20]],
                     np.float32)
    out, keep = trees.crop_boxes(boxes, (0, 0, 100, 100), min_visible=0.5)
    # box 1 has 25 % inside (dropped), box 2 has 75 % inside (clipped)
    assert keep.tolist() == [0, 2]
    np.testing.assert_array_equal(out, [[10, 10, 20, 20], [85, 10, 100, 20]])
    out, keep = trees.crop_boxes(boxes, (100, 0, 200, 100), min_visible=0.5)
    assert keep.tolist() == [1]
    np.testing.assert_array_equal(out, [[0, 10, 15, 20]])


def test_convert_trees_splits_without_overlap(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    Image.new('RGB', (200, 200), (0, 128, 0)).save(src / 'big.png')
    _write_voc(src / 'big.xml', 'big.png', 200, 200,
               [('Tree', (10, 10, 30, 30)), ('Tree', (150, 150, 170, 170)),
                ('Tree', (90, 10, 110, 30))])
    Image.new('RGB', (100, 100)).save(src / 'small.png')
    _write_voc(src / 'small.xml', 'small.tif', 100, 100,
               [('Dead', (5, 5, 25, 25)), ('Alive', (40, 40, 60, 60))])
    out = tmp_path / 'out'
    cocos = trees.convert_trees(
        str(src), str(out),
        sources=[dict(xml='big.xml', test_rows=1),
                 dict(xml='small.xml', split='test')],
        tile_size=100, min_tile=50)
    train, test = cocos['train'], cocos['test']
    assert len(train['images']) == 2 and len(test['images']) == 3
    # the box across x=100 is half in two tiles: kept in both (50 % rule)
    assert len(train['annotations']) == 3
    assert sorted(a['source_label'] for a in test['annotations']) == [
        'Alive', 'Dead', 'Tree']
    ids = [i['id'] for c in cocos.values() for i in c['images']]
    assert len(set(ids)) == len(ids)
    on_disk = json.load(open(out / 'annotations' / 'test.json'))
    assert on_disk['categories'] == [dict(id=1, name='tree')]
    first = train['annotations'][0]
    assert first['bbox'] == [10, 10, 20, 20] and first['area'] == 400
    assert trees.check_trees(str(out)) == []
    # an overlapping train/test tile is reported by --check
    on_disk['images'][0]['source_image'] = 'big.png'
    on_disk['images'][0]['tile'] = [50, 0, 150, 100]
    json.dump(on_disk, open(out / 'annotations' / 'test.json', 'w'))
    assert any('overlaps' in p for p in trees.check_trees(str(out)))


def test_brain_split_has_gap():
    split = brain.brain_split_of_slices(60, block=20, test=3, gap=3)
    train = [z for z, s in split.items() if s == 'train']
    test = [z for z, s in split.items() if s == 'test']
    assert test == [14, 15, 16, 34, 35, 36, 54, 55, 56]
    assert min(abs(a - b) for a in train for b in test) == 4
    with pytest.raises(ValueError, match='block'):
        brain.brain_split_of_slices(60, block=8, test=3, gap=3)


def _write_nifti(path, data):
    nib = pytest.importorskip('nibabel')
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))


def test_convert_brain_synthetic(tmp_path):
    shape = (12, 10, 40)
    mri = np.random.RandomState(0).randint(0, 200, shape).astype(np.uint8)
    atlas = np.zeros(shape, np.uint8)
    atlas[:6, :, :] = 1  # Precentral_L: x < 6 (patient left)
    atlas[6:, :, :] = 2  # Precentral_R
    atlas[:, :3, :] = 3  # Hippocampus_L: posterior rows, held out
    _write_nifti(tmp_path / 't1.nii.gz', mri)
    _write_nifti(tmp_path / 'atlas.nii.gz', atlas)
    (tmp_path / 'names.txt').write_text(
        '1 Precentral_L 2001\n2 Precentral_R 2002\n3 Hippocampus_L 4101\n')
    out = tmp_path / 'brain'
    meta = brain.convert_brain(
        str(tmp_path / 't1.nii.gz'), str(tmp_path / 'atlas.nii.gz'),
        str(tmp_path / 'names.txt'), str(out),
        regions=('Precentral_L', 'Precentral_R'), heldout=('Hippocampus_L', ),
        seen=('background', 'right precentral gyrus'),
        block=10, test=2, gap=2, min_labelled=1)
    assert meta['classes'] == [
        'background', 'left precentral gyrus', 'right precentral gyrus']
    assert meta['heldout_classes'] == ['left hippocampus']
    assert meta['test_slices'] == [6, 7, 16, 17, 26, 27, 36, 37]
    assert len(meta['train_slices']) == 16
    lab = np.asarray(Image.open(out / 'ann_dir' / 'train' /
                                'colin27_axial_z000.png'))
    assert lab.shape == (10, 12)  # rows = y (anterior first), cols = x
    # columns: patient left (x < 6) -> class 1, right -> class 2
    np.testing.assert_array_equal(lab[0], [1] * 6 + [2] * 6)
    # held-out region (posterior = bottom rows) is ignored in training maps
    np.testing.assert_array_equal(lab[-3:], 255)
    held = np.asarray(Image.open(out / 'ann_dir_heldout' / 'test' /
                                 'colin27_axial_z006.png'))
    np.testing.assert_array_equal(held[-3:], 3)
    # every region labelled in ann_dir_all (order: background, regions,
    # held-out); ann_dir_seen indexes the seen names, the rest ignored
    assert meta['all_classes'] == [
        'background', 'left precentral gyrus', 'right precentral gyrus',
        'left hippocampus']
    assert meta['seen_classes'] == ['background', 'right precentral gyrus']
    assert meta['heldout_names'] == ['left precentral gyrus',
                                     'left hippocampus']
    for split, z in (('train', 0), ('test', 6)):
        name = f'colin27_axial_z{z:03d}.png'
        every = np.asarray(Image.open(out / 'ann_dir_all' / split / name))
        seen = np.asarray(Image.open(out / 'ann_dir_seen' / split / name))
        np.testing.assert_array_equal(every[0], [1] * 6 + [2] * 6)
        np.testing.assert_array_equal(every[-3:], 3)
        np.testing.assert_array_equal(seen[0], [255] * 6 + [1] * 6)
        np.testing.assert_array_equal(seen[-3:], 255)
    img = np.asarray(Image.open(out / 'img_dir' / 'test' /
                                'colin27_axial_z006.png'))
    assert img.shape == (10, 12) and img.dtype == np.uint8
    assert brain.check_brain(str(out)) == []


def test_brain_seen_names_must_be_converted():
    with pytest.raises(ValueError, match="'left hippocampus'"):
        brain.split_label_names(('Precentral_L', ), (),
                                seen=('background', 'left hippocampus'))
    all_names, seen = brain.split_label_names(brain.BRAIN_REGIONS,
                                              brain.BRAIN_HELDOUT)
    # the demo's regions are exactly the names fixed in vocabulary_splits
    assert all_names == vocabulary_splits.CLASSES['brain']
    assert seen == vocabulary_splits.SEEN['brain']


def test_convert_brain_bad_region(tmp_path):
    shape = (4, 4, 4)
    _write_nifti(tmp_path / 't1.nii.gz', np.arange(64, dtype=np.uint8)
                 .reshape(shape))
    _write_nifti(tmp_path / 'atlas.nii.gz', np.ones(shape, np.uint8))
    (tmp_path / 'names.txt').write_text('1 Precentral_L 2001\n')
    with pytest.raises(ValueError, match="'Nowhere_L'"):
        brain.convert_brain(
            str(tmp_path / 't1.nii.gz'), str(tmp_path / 'atlas.nii.gz'),
            str(tmp_path / 'names.txt'), str(tmp_path / 'out'),
            regions=('Nowhere_L', ), heldout=())


def test_unreachable_registry_message(tmp_path, monkeypatch):
    def fake_run(cmd, **kwargs):
        class Proc:
            returncode = 1
            stdout = ''
            stderr = 'ERROR: Could not find a version that satisfies'
        return Proc()

    monkeypatch.setattr(fetching.subprocess, 'run', fake_run)
    with pytest.raises(fetching.RegistryUnreachableError,
                       match='registry may be unreachable'):
        trees.fetch_deepforest_data(str(tmp_path))
    rc = prepare_data.main(
        ['--data-root', str(tmp_path / 'd'), '--only', 'trees'])
    assert rc == 2


def test_main_check_reports_missing(tmp_path, capsys):
    assert prepare_data.main(['--data-root', str(tmp_path), '--check']) == 1
    assert 'PROBLEMS' in capsys.readouterr().out


def test_apt_update_retried_once_as_root(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)

        class Proc:
            stdout = ''
            stderr = 'E: Unable to locate package mricron-data'
            returncode = 1 if cmd[:2] == ['apt-get', 'download'] and len(
                calls) == 1 else 0
        if cmd[:2] == ['apt-get', 'download'] and Proc.returncode == 0:
            (tmp_path / 'debs' / 'mricron-data_1.0_all.deb').write_bytes(b'')
        if cmd[:2] == ['dpkg-deb', '-x']:
            (tmp_path / 'mricron_data' / brain.MRICRON_TEMPLATES).mkdir(
                parents=True)
        return Proc()

    monkeypatch.setattr(fetching.subprocess, 'run', fake_run)
    monkeypatch.setattr(brain.os, 'geteuid', lambda: 0)
    templates = brain.fetch_mricron_templates(str(tmp_path))
    assert [c[:2] for c in calls] == [['apt-get', 'download'],
                                      ['apt-get', 'update'],
                                      ['apt-get', 'download'],
                                      ['dpkg-deb', '-x']]
    assert templates.endswith(brain.MRICRON_TEMPLATES)
    # a second call uses the unpacked cache and runs nothing
    calls.clear()
    brain.fetch_mricron_templates(str(tmp_path))
    assert calls == []
