"""Medical sets with prompts: Kvasir-SEG, ISIC-2018 task 1, Synapse.

The real data cannot be downloaded here: the classes are tested on tiny
synthetic files laid out like the real sets.
"""
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

pytest.importorskip('mmseg')

from mmseg.registry import DATASETS  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.datasets.medical import (
    prepare_isic2018_task1,  # noqa: E402
    prepare_kvasir_seg)

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmseg_scope():
    """Build in mmseg's scope, and leave the process's scope as it was."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]


def write_pair(root,
               split,
               name,
               img_suffix,
               mask,
               img_dir='images',
               ann_dir='masks',
               mask_suffix='.png'):
    (root / img_dir / split).mkdir(parents=True, exist_ok=True)
    (root / ann_dir / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name))
    img = rng.integers(0, 255, (*mask.shape, 3), dtype=np.uint8)
    Image.fromarray(img).save(root / img_dir / split / f'{name}{img_suffix}')
    Image.fromarray(mask.astype(np.uint8)).save(root / ann_dir / split /
                                                f'{name}{mask_suffix}')


def disk(size=32, radius=8):
    yy, xx = np.mgrid[:size, :size]
    return ((yy - size // 2)**2 + (xx - size // 2)**2 <= radius**2)


@pytest.mark.parametrize('dataset_type, fg_prompt', [
    ('KvasirSEGDataset', 'polyp'),
    ('ISIC2018Task1Dataset', 'skin lesion'),
])
def test_binary_medical_dataset_loads_prompts_and_masks(
        tmp_path, dataset_type, fg_prompt):
    for i in range(3):
        write_pair(tmp_path, 'train', f'case{i}', '.png', disk())
    write_pair(tmp_path, 'val', 'case9', '.png', disk())
    dataset = DATASETS.build(
        dict(type=dataset_type,
             data_root=str(tmp_path),
             data_prefix=dict(img_path='images/train',
                              seg_map_path='masks/train'),
             pipeline=PIPELINE))
    assert len(dataset) == 3
    meta = dataset.metainfo
    assert meta['classes'][0] == 'background'
    assert meta['prompts'][1][0] == fg_prompt
    assert len(meta['prompts']) == len(meta['classes'])
    sample = dataset[0]['data_samples']
    gt = sample.gt_sem_seg.data
    assert set(gt.unique().tolist()) == {0, 1}
    assert int(gt.sum()) == int(disk().sum())


def test_synapse_prompt_dataset_keeps_stock_layout(tmp_path):
    label = np.zeros((32, 32), np.uint8)
    label[4:10, 4:10] = 3  # left kidney
    label[20:30, 20:30] = 5  # liver
    write_pair(tmp_path,
               'train',
               'case0001_slice000',
               '.jpg',
               label,
               img_dir='img_dir',
               ann_dir='ann_dir')
    dataset = DATASETS.build(
        dict(type='SynapsePromptDataset',
             data_root=str(tmp_path),
             data_prefix=dict(img_path='img_dir/train',
                              seg_map_path='ann_dir/train'),
             pipeline=PIPELINE))
    assert len(dataset) == 1
    prompts = dataset.metainfo['prompts']
    assert len(prompts) == 9
    assert prompts[3] == ('left kidney', )
    stock = DATASETS.get('SynapseDataset').METAINFO['classes']
    assert dataset.metainfo['classes'] == stock
    gt = dataset[0]['data_samples'].gt_sem_seg.data
    assert set(gt.unique().tolist()) == {0, 3, 5}


def test_prepare_kvasir_seg_thresholds_jpeg_masks(tmp_path):
    raw = tmp_path / 'Kvasir-SEG'
    (raw / 'images').mkdir(parents=True)
    (raw / 'masks').mkdir()
    for i in range(5):
        img = np.full((32, 32, 3), 40 * i, np.uint8)
        Image.fromarray(img).save(raw / 'images' / f'cj{i}.jpg')
        mask = disk().astype(np.uint8) * 255
        Image.fromarray(mask).save(raw / 'masks' / f'cj{i}.jpg', quality=70)
    counts = prepare_kvasir_seg(str(raw), str(tmp_path / 'out'), 0.4)
    assert counts == {'train': 3, 'val': 2}
    mask = np.asarray(Image.open(tmp_path / 'out/masks/val/cj4.png'))
    assert set(np.unique(mask).tolist()) == {0, 1}
    # JPEG noise is gone: the mask equals the disk up to its border
    assert abs(int(mask.sum()) - int(disk().sum())) <= 8
    dataset = DATASETS.build(
        dict(type='KvasirSEGDataset',
             data_root=str(tmp_path / 'out'),
             data_prefix=dict(img_path='images/val', seg_map_path='masks/val'),
             pipeline=PIPELINE))
    assert len(dataset) == 2
    with pytest.raises(FileNotFoundError, match='images'):
        prepare_kvasir_seg(str(tmp_path / 'missing'), str(tmp_path / 'x'))


def test_prepare_isic2018_task1(tmp_path):
    raw = tmp_path / 'raw'
    inp = raw / 'ISIC2018_Task1-2_Training_Input'
    gt = raw / 'ISIC2018_Task1_Training_GroundTruth'
    inp.mkdir(parents=True)
    gt.mkdir()
    for i in range(2):
        name = f'ISIC_000000{i}'
        Image.fromarray(np.zeros((32, 32, 3),
                                 np.uint8)).save(inp / f'{name}.jpg')
        Image.fromarray(disk().astype(np.uint8) * 255).save(
            gt / f'{name}_segmentation.png')
    counts = prepare_isic2018_task1(str(raw), str(tmp_path / 'out'))
    assert counts == {'train': 2}
    mask = np.asarray(Image.open(tmp_path /
                                 'out/masks/train/ISIC_0000001.png'))
    assert int(mask.sum()) == int(disk().sum())
    (gt / 'ISIC_0000001_segmentation.png').unlink()
    with pytest.raises(FileNotFoundError, match='ISIC_0000001'):
        prepare_isic2018_task1(str(raw), str(tmp_path / 'out2'))
