"""OpenVocabularyCocoMetric: AP50 on base, novel and all classes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import METRICS  # noqa: E402
from mmengine.config import Config  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.evaluation import (COCO_OV_BASE_CLASSES,  # noqa: E402
                              COCO_OV_NOVEL_CLASSES)

ROOT = Path(__file__).resolve().parents[3]
CLASSES = ('person', 'cat', 'car', 'dog')  # base, novel, base, novel


def write_gt(tmp_path):
    images = [dict(id=i, file_name=f'{i}.jpg', width=100, height=100)
              for i in (1, 2)]
    boxes = {1: [(0, [10, 10, 30, 30]), (1, [50, 50, 30, 30])],
             2: [(2, [5, 5, 40, 40]), (3, [60, 10, 30, 30])]}
    anns = []
    for img_id, objs in boxes.items():
        for label, box in objs:
            anns.append(dict(id=len(anns) + 1, image_id=img_id,
                             category_id=label + 1, bbox=box,
                             area=box[2] * box[3], iscrowd=0))
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(dict(
        images=images, annotations=anns,
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)])))
    return path, boxes


def prediction(img_id, objs, keep):
    bboxes, labels = [], []
    for label, (x, y, w, h) in objs:
        if label in keep:
            bboxes.append([x, y, x + w, y + h])
            labels.append(label)
    return dict(
        img_id=img_id,
        ori_shape=(100, 100),
        pred_instances=dict(
            bboxes=torch.tensor(bboxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.ones(len(labels)),
            labels=torch.tensor(labels, dtype=torch.long)))


def test_base_novel_all_ap50(tmp_path):
    ann_file, boxes = write_gt(tmp_path)
    metric = METRICS.build(
        dict(
            type='OpenVocabularyCocoMetric',
            ann_file=str(ann_file),
            base_classes=('person', 'car'),
            novel_classes=('cat', 'dog')))
    metric.dataset_meta = dict(classes=CLASSES)
    # Perfect on base classes and on 'cat'; misses every 'dog'.
    samples = [prediction(i, objs, keep={0, 1, 2}) for i, objs in
               boxes.items()]
    metric.process({}, samples)
    results = metric.evaluate(size=2)
    assert results['coco/bbox_AP50_base'] == pytest.approx(1.0)
    assert results['coco/bbox_AP50_novel'] == pytest.approx(0.5)
    assert results['coco/bbox_AP50_all'] == pytest.approx(0.75)
    assert 'coco/bbox_mAP' in results


def test_split_must_be_disjoint_and_known(tmp_path):
    ann_file, _ = write_gt(tmp_path)
    with pytest.raises(ValueError, match='both base and novel'):
        METRICS.build(dict(type='OpenVocabularyCocoMetric',
                           ann_file=str(ann_file),
                           base_classes=('cat', ), novel_classes=('cat', )))
    metric = METRICS.build(dict(type='OpenVocabularyCocoMetric',
                                ann_file=str(ann_file),
                                base_classes=('person', ),
                                novel_classes=('unicorn', )))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [prediction(1, [], keep=set())])
    with pytest.raises(ValueError, match='unicorn'):
        metric.evaluate(size=1)


def test_open_vocabulary_coco_config_split():
    cfg = Config.fromfile(
        ROOT / 'configs/detection/lg-atss_r50_fpn_1x_ov-coco-48-17.py')
    assert len(COCO_OV_BASE_CLASSES) == 48
    assert len(COCO_OV_NOVEL_CLASSES) == 17
    assert tuple(cfg.base_classes) == COCO_OV_BASE_CLASSES
    assert tuple(cfg.novel_classes) == COCO_OV_NOVEL_CLASSES
    train_classes = cfg.train_dataloader.dataset.metainfo.classes
    test_classes = cfg.test_dataloader.dataset.metainfo.classes
    assert not set(train_classes) & set(COCO_OV_NOVEL_CLASSES)
    assert len(test_classes) == 65 == cfg.model.bbox_head.num_classes
    from mmdet.datasets import CocoDataset
    assert set(test_classes) <= set(CocoDataset.METAINFO['classes'])
    assert cfg.test_evaluator.type == 'OpenVocabularyCocoMetric'
    assert np.all([isinstance(c, str) for c in test_classes])


def test_lvis_and_smollm2_configs():
    lvis = Config.fromfile(ROOT / 'configs/detection/'
                           'lg-atss_r50_fpn_lvis-1203-names_inference.py')
    from mmvlm.structures import Vocabulary
    assert len(Vocabulary.parse(lvis.model.vocabulary)) == 1203
    assert lvis.model.bbox_head.num_classes == 1203
    smol = Config.fromfile(ROOT / 'configs/detection/'
                           'lg-atss_r50_fpn_smollm2-prefix_1x_coco.py')
    assert smol.model.neck.text_encoder.name_or_path == 'smollm2-135m'
    assert smol.model.neck.text_encoder.prefix_length == 8
