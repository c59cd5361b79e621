"""explain_data_failure: a training failure caused by its data, explained
with the dataset checks' findings."""
import json

from mmengine.config import Config

from mmvlm.engine.training_data_diagnosis import explain_data_failure


def test_a_malformed_annotation_json_is_explained_naming_the_file(tmp_path):
    """mmdet's loader raises a bare JSONDecodeError (no file name) on a
    truncated annotation json; the launchers' explanation names it."""
    ann_file = tmp_path / 'train.json'
    ann_file.write_text('{"images": [{"id": 1, "file_na')
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='CocoDataset', ann_file=str(ann_file)))))
    try:
        json.loads(ann_file.read_text())
    except json.JSONDecodeError as err:
        decode_error = err
    message = explain_data_failure(cfg, decode_error)
    assert message is not None
    assert 'Training stopped on its data' in message
    assert f'annotation file {str(ann_file)!r} is not valid JSON' in message
    # any other ValueError is not a data failure
    assert explain_data_failure(cfg, ValueError('bad lr')) is None
