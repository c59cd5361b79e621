"""PhraseGroundingDataset: ODVG and RefCOCO style phrase annotations."""
import json
import logging
from unittest import mock

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmvlm.datasets import (DET_TEXT_META_KEYS, SEG_TEXT_META_KEYS,
                            PhraseGroundingDataset)


def odvg_records():
    caption = 'a brown dog chases a red ball near the dog house'
    return [
        dict(filename='a.png', height=48, width=64, grounding=dict(
            caption=caption, regions=[
                dict(bbox=[2, 2, 20, 20], phrase='a brown dog',
                     tokens_positive=[[0, 11]]),
                dict(bbox=[[30, 5, 40, 15], [41, 5, 50, 15]],
                     tokens_positive=[[19, 29]]),  # no phrase: span
                dict(bbox=[5, 30, 25, 45], phrase='a brown dog'),
            ])),
        # no groundable phrase: no regions / degenerate box / empty phrase
        dict(filename='b.png', height=48, width=64,
             grounding=dict(caption='nothing here', regions=[])),
        dict(filename='c.png', height=48, width=64, grounding=dict(
            caption='tiny', regions=[dict(bbox=[1, 1, 1.5, 1.5],
                                          phrase='tiny')])),
        dict(filename='a.png', height=48, width=64, grounding=dict(
            caption='', regions=[dict(bbox=[1, 1, 9, 9], phrase='  ')])),
        dict(filename='b.png', height=48, width=64, grounding=dict(
            caption='Ein Hündchen und ' + 'sehr ' * 80 + 'lang',
            regions=[dict(bbox=[1, 1, 30, 30], phrase='ein Hündchen'),
                     dict(bbox=[3, 3, 30, 30],
                          phrase='word ' * 100)])),
    ]


@pytest.fixture
def odvg_file(tmp_path):
    path = tmp_path / 'grounding.jsonl'
    path.write_text('\n'.join(
        json.dumps(r, ensure_ascii=False) for r in odvg_records()),
                    encoding='utf-8')
    return str(path)


def test_odvg_phrases_become_the_vocabulary(odvg_file, images_dir):
    dataset = PhraseGroundingDataset(
        ann_file=odvg_file, data_prefix=dict(img=images_dir),
        max_text_chars=64)
    assert len(dataset) == 2
    assert dataset.load_stats == dict(read=5, skipped=3, truncated=2)
    first = dataset.get_data_info(0)
    assert first['text'] == ('a brown dog', 'a red ball')
    assert first['text_label_ids'] == (-1, -1)
    assert first['text_mask'] == (True, True)
    assert [i['bbox_label'] for i in first['instances']] == [0, 1, 1, 0]
    assert first['instances'][2]['bbox'] == [41.0, 5.0, 50.0, 15.0]
    second = dataset.get_data_info(1)
    assert second['text'][0] == 'ein Hündchen'  # non-ASCII preserved
    assert len(second['text'][1]) <= 64 and second['text'][1].endswith(
        'word')
    assert len(second['caption']) <= 64
    assert second['caption'].startswith('Ein Hündchen und sehr')


def test_skip_and_truncation_warn_once(odvg_file, images_dir):
    target = 'mmvlm.datasets.phrase_grounding_dataset.print_log'
    with mock.patch(target) as print_log:
        PhraseGroundingDataset(
            ann_file=odvg_file, data_prefix=dict(img=images_dir),
            max_text_chars=64)
    messages = [call.args[0] for call in print_log.call_args_list]
    assert len(messages) == 2  # one warning each, not one per sample
    assert 'skipped 3 of 5 samples' in messages[0]
    assert 'cut 2 phrases/captions' in messages[1]
    assert all(call.kwargs['level'] == logging.WARNING
               for call in print_log.call_args_list)


def test_only_bad_samples_is_an_error(tmp_path):
    path = tmp_path / 'bad.jsonl'
    path.write_text(json.dumps(odvg_records()[1]))
    with pytest.raises(ValueError, match='No sample'):
        PhraseGroundingDataset(ann_file=str(path))
    path.write_text(json.dumps(dict(grounding=dict(caption='x'))))
    with pytest.raises(ValueError, match='Record 0 .* no "filename"'):
        PhraseGroundingDataset(ann_file=str(path))
    path.write_text('{"filename": "a.png"}\n{broken')
    with pytest.raises(ValueError, match='Line 2 .* not valid json'):
        PhraseGroundingDataset(ann_file=str(path))


@pytest.fixture
def refcoco_file(tmp_path):
    data = dict(
        images=[
            dict(id=1, file_name='a.png', height=48, width=64,
                 caption='the dog on the left next to a cat'),
            dict(id=2, file_name='b.png', height=48, width=64),
        ],
        annotations=[
            dict(id=1, image_id=1, bbox=[2, 2, 20, 20],
                 segmentation=[[2, 2, 22, 2, 22, 22, 2, 22]],
                 sentences=[dict(raw='the dog on the left'),
                            dict(sent='left dog')]),
            dict(id=2, image_id=1, bbox=[30, 2, 20, 20],
                 segmentation=[[30, 2, 50, 2, 50, 22, 30, 22]],
                 tokens_positive=[[30, 33]]),
            dict(id=3, image_id=2, bbox=[1, 1, 10, 10], phrase=''),
        ])
    path = tmp_path / 'refs.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_refcoco_masks_and_sentences(refcoco_file, images_dir):
    init_default_scope('mmdet')
    dataset = PhraseGroundingDataset(
        ann_file=refcoco_file,
        data_prefix=dict(img=images_dir),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='RandomSampleNegativeTexts', num_negatives=0,
                 max_num_texts=4),
            dict(type='PackDetInputs', meta_keys=DET_TEXT_META_KEYS),
        ])
    assert len(dataset) == 1 and dataset.load_stats['skipped'] == 1
    info = dataset.get_data_info(0)
    assert info['text'] == (('the dog on the left', 'left dog'), 'cat')
    sample = dataset[0]['data_samples']
    assert sample.text_mask == (True, True, False, False)
    assert sample.text[2:] == ('', '')
    labels = sample.gt_instances.labels.tolist()
    assert sorted(sample.text[k] if isinstance(sample.text[k], str) else
                  sample.text[k][0] for k in labels) == [
                      'cat', 'the dog on the left']
    masks = sample.gt_instances.masks.to_ndarray()
    assert masks.shape == (2, 48, 64)
    # the mask of each box lies inside that box
    for box, mask in zip(sample.gt_instances.bboxes.tensor.numpy(), masks):
        ys, xs = np.nonzero(mask)
        assert xs.min() >= box[0] - 1 and xs.max() <= box[2]

    first_only = PhraseGroundingDataset(
        ann_file=refcoco_file, sentence_mode='first')
    assert first_only.get_data_info(0)['text'] == ('the dog on the left',
                                                   'cat')


def test_refcoco_masks_feed_an_mmseg_pipeline(refcoco_file, images_dir):
    from mmseg.registry import DATASETS as SEG_DATASETS
    init_default_scope('mmseg')
    dataset = SEG_DATASETS.build(
        dict(
            type='PhraseGroundingDataset',
            ann_file=refcoco_file,
            data_prefix=dict(img=images_dir),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='PhraseMasksToSegMap'),
                dict(type='Resize', scale=(32, 24), keep_ratio=False),
                dict(type='RandomSampleNegativeTexts', num_negatives=0,
                     max_num_texts=3),
                dict(type='PackSegInputs', meta_keys=SEG_TEXT_META_KEYS),
            ]))
    sample = dataset[0]['data_samples']
    seg = sample.gt_sem_seg.data[0]
    assert seg.shape == (24, 32)
    assert set(seg.unique().tolist()) <= {0, 1, 255}
    assert sample.text_mask == (True, True, False)
    assert sample.text[seg[6, 6]] == ('the dog on the left', 'left dog')
    assert sample.text[seg[6, 20]] == 'cat'
    assert seg[20, 5] == 255  # no phrase there


def test_bad_arguments(refcoco_file):
    with pytest.raises(ValueError, match='ann_format'):
        PhraseGroundingDataset(ann_file=refcoco_file, ann_format='coco')
    with pytest.raises(ValueError, match='sentence_mode'):
        PhraseGroundingDataset(ann_file=refcoco_file, sentence_mode='x')
