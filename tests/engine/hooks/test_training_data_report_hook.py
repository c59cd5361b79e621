"""TrainingDataReportHook: the start-of-run report on the training data,
and the stop when a COCO json loses too many annotations."""
import json
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmvlm.datasets.checks import MAX_DROPPED_FRACTION, \
    DroppedAnnotationsError
from mmvlm.engine.hooks import TrainingDataReportHook


class ListLogger:
    """Collects what the hook logs."""

    def __init__(self):
        self.warnings = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def write_coco(path, num_annotations: int = 64, unknown: int = 32):
    """16 images of 64x64 with 4 boxes each; the last ``unknown``
    annotations have a category_id (99) that is no category."""
    images = [dict(id=i, file_name=f'{i}.png', width=64, height=64)
              for i in range(1, 17)]
    annotations = [
        dict(id=k + 1, image_id=k % 16 + 1,
             category_id=99 if k >= num_annotations - unknown else 1,
             bbox=[4, 4, 16, 16], area=256, iscrowd=0)
        for k in range(num_annotations)
    ]
    path.write_text(json.dumps(dict(
        images=images, annotations=annotations,
        categories=[dict(id=1, name='tree')])))
    return path


def fake_runner(ann_file) -> SimpleNamespace:
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='CocoDataset', ann_file=str(ann_file),
        metainfo=dict(classes=('tree', )),
        filter_cfg=dict(filter_empty_gt=True)))))
    return SimpleNamespace(cfg=cfg, logger=ListLogger())


def test_half_the_annotations_under_unknown_ids_stop_the_run(tmp_path):
    ann_file = write_coco(tmp_path / 'train.json', 64, 32)
    runner = fake_runner(ann_file)
    with pytest.raises(DroppedAnnotationsError) as err:
        TrainingDataReportHook().before_train(runner)
    message = str(err.value)
    assert 'train.json' in message
    assert '32 of its 64 annotations (50.0 %)' in message
    assert '99: 32' in message  # the unknown id and its count
    # the report is logged before the run stops
    assert len(runner.logger.warnings) == 1
    assert '32 of its 64 annotations' in runner.logger.warnings[0]


def test_a_few_dropped_annotations_are_a_warning(tmp_path):
    ann_file = write_coco(tmp_path / 'train.json', 64, 2)  # 3.1 %
    assert 2 / 64 <= MAX_DROPPED_FRACTION
    runner = fake_runner(ann_file)
    TrainingDataReportHook().before_train(runner)
    assert '2 of its 64 annotations (3.1 %)' in runner.logger.warnings[0]


def test_max_dropped_fraction_is_passed_to_the_checks(tmp_path):
    ann_file = write_coco(tmp_path / 'train.json', 64, 32)
    runner = fake_runner(ann_file)
    TrainingDataReportHook(max_dropped_fraction=0.6).before_train(runner)
    assert '32 of its 64 annotations' in runner.logger.warnings[0]
    runner = fake_runner(write_coco(tmp_path / 'few.json', 64, 2))
    with pytest.raises(DroppedAnnotationsError, match='few.json'):
        TrainingDataReportHook(max_dropped_fraction=0.).before_train(runner)


def test_a_fraction_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match='max_dropped_fraction=5'):
        TrainingDataReportHook(max_dropped_fraction=5)


def test_a_clean_json_logs_nothing(tmp_path):
    runner = fake_runner(write_coco(tmp_path / 'train.json', 64, 0))
    TrainingDataReportHook().before_train(runner)
    assert runner.logger.warnings == []
