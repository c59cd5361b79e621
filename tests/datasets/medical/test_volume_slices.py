"""mmvlm.datasets.medical.volume_slices on synthetic NIfTI volumes with
known affines: the label volume is resampled onto the image grid through
the affines (another voxel size, a flipped x axis, a shifted origin), grids
that do not overlap are an error naming the affines, the slice blocks do
not touch, held-out names are 255 in training only, and the slices are laid
out as meta.json says (the subject's left on the left)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmvlm.datasets.medical.volume_slices import (VolumeGridError,
                                                  read_names_table,
                                                  resample_labels,
                                                  split_slices,
                                                  volumes_to_mmseg)

nib = pytest.importorskip('nibabel')
ROOT = Path(__file__).resolve().parents[3]

#: image grid: 2 mm voxels, RAS, origin at (-20, -24, -16) mm
IMAGE_AFFINE = np.array([[2., 0, 0, -20], [0, 2, 0, -24], [0, 0, 2, -16],
                         [0, 0, 0, 1]])
IMAGE_SHAPE = (20, 24, 16)
#: label grid: 1 mm voxels, x flipped (LAS, "_R labels at low x"), a
#: larger field of view, origin elsewhere
LABEL_AFFINE = np.array([[-1., 0, 0, 25], [0, 1, 0, -30], [0, 0, 1, -20],
                         [0, 0, 0, 1]])
LABEL_SHAPE = (52, 60, 44)


def world_label(x, y, z):
    """The anatomy in millimetres: 1 'left box' (subject's left, x < 0),
    2 'right box' (x > 0), 3 'far box'; 0 elsewhere."""
    out = np.zeros(np.broadcast(x, y, z).shape, np.int16)
    body = (np.abs(y) < 10) & (np.abs(z) < 8)
    out[body & (x > -16) & (x < -4)] = 1
    out[body & (x > 4) & (x < 16)] = 2
    out[(np.abs(x) < 6) & (y > 14) & (y < 20) & (np.abs(z) < 8)] = 3
    return out


def grid_world(affine, shape):
    ijk = np.stack(list(np.meshgrid(*[np.arange(n) for n in shape],
                                    indexing="ij")) + [np.ones(shape)])
    xyz = np.tensordot(affine, ijk, axes=1)[:3]
    return xyz


def write_volumes(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    x, y, z = grid_world(IMAGE_AFFINE, IMAGE_SHAPE)
    image = 100 + 800 * (world_label(x, y, z) > 0) + x  # a gradient too
    nib.save(nib.Nifti1Image(image.astype(np.float32), IMAGE_AFFINE),
             str(root / 't1.nii.gz'))
    x, y, z = grid_world(LABEL_AFFINE, LABEL_SHAPE)
    nib.save(nib.Nifti1Image(world_label(x, y, z), LABEL_AFFINE),
             str(root / 'atlas.nii.gz'))
    (root / 'names.txt').write_text(
        '# value name\n0 Unclassified\n1 left box\n2\tright box\n'
        '3, far box\n')
    return root / 't1.nii.gz', root / 'atlas.nii.gz', root / 'names.txt'


def test_labels_are_resampled_through_the_affines():
    x, y, z = grid_world(LABEL_AFFINE, LABEL_SHAPE)
    labels = world_label(x, y, z).astype(np.int64)
    out = resample_labels(labels, LABEL_AFFINE, IMAGE_SHAPE, IMAGE_AFFINE)
    expected = world_label(*grid_world(IMAGE_AFFINE, IMAGE_SHAPE))
    # nearest neighbour at a 1 mm grid: every voxel agrees except where a
    # box edge falls between label voxels
    assert (out == expected).mean() > 0.97
    assert set(np.unique(out).tolist()) == {0, 1, 2, 3}
    # the subject's left (x < 0) is at low image x: the flip is undone
    assert (out[:10] == 1).sum() > 0 and (out[:10] == 2).sum() == 0


def test_grids_that_do_not_overlap_are_an_error_naming_the_affines():
    far = LABEL_AFFINE.copy()
    far[:3, 3] += 500  # another space
    with pytest.raises(VolumeGridError,
                       match=r'(?s)Only 0.0%.*image affine:.*label affine'):
        resample_labels(np.zeros(LABEL_SHAPE, np.int64), far, IMAGE_SHAPE,
                        IMAGE_AFFINE)


def test_slice_blocks_do_not_touch():
    train, test = split_slices(range(10, 40), test_fraction=0.2, gap=2,
                               num_blocks=1)
    assert len(test) == 6 and test == list(range(22, 28))
    assert min(abs(a - b) for a in train for b in test) > 2
    train, test = split_slices(range(10, 70), test_fraction=0.2, gap=2)
    assert test == [18, 19, 20, 21, 38, 39, 40, 41, 58, 59, 60, 61]
    assert min(abs(a - b) for a in train for b in test) > 2
    assert not set(train) & set(test)
    with pytest.raises(ValueError, match='5 slices cannot hold 1 test'):
        split_slices(range(5), gap=2)


def test_readable_prompts_of_atlas_names():
    from mmvlm.datasets.medical.volume_slices import readable_prompt
    assert readable_prompt('Corticospinal_tract_R') == \
        'right corticospinal tract'
    assert readable_prompt('Cingulum_(hippocampus)_L') == \
        'left cingulum (hippocampus)'
    assert readable_prompt('Left-Hippocampus'.replace('-', '_')) == \
        'left hippocampus'
    assert readable_prompt('MCP') == 'MCP'


def test_names_table_errors_name_the_line(tmp_path):
    path = tmp_path / 'n.txt'
    path.write_text('1 a\n1 b\n')
    with pytest.raises(ValueError, match=r'n.txt:2: label value 1 is named '
                       'twice'):
        read_names_table(str(path))
    path.write_text('x a\n')
    with pytest.raises(ValueError, match="'x' is not an integer"):
        read_names_table(str(path))


def test_volumes_to_mmseg_writes_splits_held_out_and_orientation(tmp_path):
    image, atlas, names = write_volumes(tmp_path / 'raw')
    out = tmp_path / 'boxes'
    data = volumes_to_mmseg([str(image)], str(atlas), str(names), str(out),
                            axis='axial', gap=1, test_blocks=1,
                            held_out=['far box'])
    assert data.classes == ['background', 'left box', 'right box',
                            'far box']
    # slices with labels: z in (-8, 8) mm -> image z 5..11 (z = 2k - 16)
    assert data.meta['slices']['first'] == 5
    assert data.meta['slices']['last'] == 11
    assert min(abs(a - b) for a in data.train_slices
               for b in data.test_slices) > 1
    meta = json.loads((out / 'meta.json').read_text())
    assert meta['value_0_in_table'] == 'Unclassified'  # class 0: background
    assert meta['orientation']['axis'] == 'axial'
    assert 'left to right' in meta['orientation']['slice_layout']
    assert meta['orientation']['label_resampling'].startswith('nearest')
    k = data.train_slices[0]
    name = f't1_axial{k:03d}.png'
    train_map = cv2.imread(str(out / 'ann_dir/train' / name), 0)
    image_png = cv2.imread(str(out / 'img_dir/train' / name))
    assert train_map.shape == image_png.shape[:2] == (24, 20)  # rows: y
    # held-out 'far box' (3) is ignored in training; anterior is up
    assert 3 not in train_map and (train_map == 255).any()
    assert (np.argwhere(train_map == 255)[:, 0] < 8).all()
    # the subject's left on the left of the picture (neurological view)
    cols_left = np.argwhere(train_map == 1)[:, 1]
    cols_right = np.argwhere(train_map == 2)[:, 1]
    assert cols_left.max() < cols_right.min()
    test_name = f't1_axial{data.test_slices[0]:03d}.png'
    test_map = cv2.imread(str(out / 'ann_dir/test' / test_name), 0)
    assert 3 in test_map  # the test maps keep the held-out name
    assert set(np.unique(test_map).tolist()) <= {0, 1, 2, 3}
    # one image volume: a grey slice; labelled voxels are bright in it
    assert (image_png == image_png[..., :1]).all()
    assert image_png[train_map == 1].mean() > 150 > image_png[
        train_map == 0].mean()
    command = data.new_project_command()
    assert "--held-out 'far box'" in command
    assert f'--prompts {out}/prompts.yaml' in command


def test_unlisted_values_and_held_out_errors(tmp_path):
    image, atlas, names = write_volumes(tmp_path / 'raw')
    short = tmp_path / 'short.txt'
    short.write_text('1 left box\n2 right box\n')
    with pytest.raises(ValueError, match=r'label values \[3\].*--unlisted'):
        volumes_to_mmseg(str(image), str(atlas), str(short),
                         str(tmp_path / 'o'))
    data = volumes_to_mmseg(str(image), str(atlas), str(short),
                            str(tmp_path / 'o'), unlisted='ignore', gap=1,
                            test_blocks=1)
    assert data.warnings and 'written as ignore' in data.warnings[0]
    with pytest.raises(ValueError, match='not in the names table'):
        volumes_to_mmseg(str(image), str(atlas), str(names),
                         str(tmp_path / 'p'), held_out=['nose'])


def test_tool_then_new_project_take_the_output_directly(tmp_path):
    image, atlas, names = write_volumes(tmp_path / 'raw')
    out = tmp_path / 'boxes'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable,
         str(ROOT / 'tools/dataset_converters/volume_to_mmseg.py'),
         '--image', str(image), '--labels', str(atlas), '--names',
         str(names), '--out-dir', str(out), '--gap', '1',
         '--test-blocks', '1', '--held-out',
         'far box'], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    command = proc.stdout.strip().splitlines()[-1].split()
    assert command[:3] == ['python', 'tools/misc/new_project.py', 'seg']
    from mmvlm.apis.new_project import new_project
    project = new_project(
        'seg', str(tmp_path / 'cfg'), img_dir=str(out / 'img_dir/train'),
        ann_dir=str(out / 'ann_dir/train'),
        val_img_dir=str(out / 'img_dir/test'),
        val_ann_dir=str(out / 'ann_dir/test'),
        prompts=str(out / 'prompts.yaml'), held_out=['far box'],
        check_tokens=False)
    assert not [f for f in project.findings if f.level == 'error']
    assert project.settings['seen_classes'] == ['background', 'left box',
                                                'right box']
