"""Tiny on-disk datasets (64x48 images) for the multimodal data tests."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest

#: Raw class names of the tiny datasets (uncleaned on purpose).
TINY_CLASSES = ('traffic_light', 'dog', 'wall-other-merged', 'bow_(weapon)')
IMG_H, IMG_W = 48, 64


def _write_image(path: str, seed: int) -> None:
    rng = np.random.RandomState(seed)
    mmcv.imwrite(rng.randint(0, 255, (IMG_H, IMG_W, 3), dtype=np.uint8),
                 path)


@pytest.fixture
def tiny_coco(tmp_path):
    """A 3-image COCO detection set; returns (data_root, ann_file)."""
    root = tmp_path / 'coco'
    (root / 'images').mkdir(parents=True)
    images, annotations = [], []
    # image 1: a traffic light and a dog; image 2: a bow; image 3: dog x2.
    boxes = {
        1: [(1, [4, 4, 20, 16]), (2, [30, 10, 20, 30])],
        2: [(4, [10, 10, 30, 20])],
        3: [(2, [2, 2, 10, 10]), (2, [40, 20, 16, 20])],
    }
    ann_id = 1
    for img_id, objs in boxes.items():
        name = f'{img_id:03d}.png'
        _write_image(str(root / 'images' / name), img_id)
        images.append(
            dict(id=img_id, file_name=name, height=IMG_H, width=IMG_W))
        for cat, (x, y, w, h) in objs:
            annotations.append(
                dict(
                    id=ann_id,
                    image_id=img_id,
                    category_id=cat,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]]))
            ann_id += 1
    categories = [
        dict(id=i + 1, name=name) for i, name in enumerate(TINY_CLASSES)
    ]
    ann_file = root / 'instances.json'
    ann_file.write_text(
        json.dumps(
            dict(
                images=images,
                annotations=annotations,
                categories=categories)))
    return str(root), 'instances.json'


@pytest.fixture
def tiny_seg(tmp_path):
    """A 2-image semantic segmentation set (values 0..3, 255 ignore)."""
    root = tmp_path / 'seg'
    (root / 'img').mkdir(parents=True)
    (root / 'ann').mkdir(parents=True)
    for i in range(2):
        _write_image(str(root / 'img' / f'{i}.png'), 10 + i)
        seg = np.zeros((IMG_H, IMG_W), dtype=np.uint8)
        seg[:, IMG_W // 2:] = 1 + i  # class 1 or 2 on the right half
        seg[:4] = 255
        mmcv.imwrite(seg, str(root / 'ann' / f'{i}.png'))
    return str(root)


@pytest.fixture
def class_text_file(tmp_path):
    """A YOLO-World style class-text file for TINY_CLASSES."""
    path = tmp_path / 'class_texts.json'
    path.write_text(
        json.dumps([['traffic light', 'stop light'], ['dog', 'Hündchen'],
                    ['wall'], ['bow']],
                   ensure_ascii=False),
        encoding='utf-8')
    return str(path)


@pytest.fixture
def images_dir(tmp_path):
    """Folder with 3 tiny images named a.png, b.png, c.png."""
    folder = tmp_path / 'imgs'
    folder.mkdir()
    for i, name in enumerate('abc'):
        _write_image(osp.join(str(folder), f'{name}.png'), 20 + i)
    return str(folder)
