"""RandomSampleNegativeTexts: sampling, padding and ground-truth remapping."""
import copy

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from mmvlm.datasets import RandomSampleNegativeTexts

VOCAB = tuple(f'class{i}' for i in range(10))


def det_results(labels, with_masks=True):
    """Boxes whose geometry encodes their position (box i at x = 10 i)."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    boxes = np.array([[10 * i, 0, 10 * i + 5, 5] for i in range(n)],
                     dtype=np.float32)
    results = dict(
        text=VOCAB,
        text_label_ids=tuple(range(len(VOCAB))),
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=labels,
        gt_ignore_flags=np.array([i % 2 == 1 for i in range(n)]))
    if with_masks:
        masks = np.zeros((n, 8, 8), dtype=np.uint8)
        for i in range(n):
            masks[i, :i + 1, 0] = 1  # mask i has i + 1 pixels
        results['gt_masks'] = BitmapMasks(masks, 8, 8)
    return results


def check_box_consistency(before, after):
    """Every kept box still names the same text and dataset class."""
    old_x = before['gt_bboxes'].tensor[:, 0].numpy()
    for box, mask, flag, label in zip(after['gt_bboxes'].tensor,
                                      after['gt_masks'].masks,
                                      after['gt_ignore_flags'],
                                      after['gt_bboxes_labels']):
        i = int(np.flatnonzero(old_x == float(box[0]))[0])
        old_label = before['gt_bboxes_labels'][i]
        assert after['text'][label] == VOCAB[old_label]
        assert after['text_label_ids'][label] == old_label
        assert after['text_mask'][label]
        assert mask.sum() == i + 1  # the mask travelled with its box
        assert flag == before['gt_ignore_flags'][i]


def test_positives_kept_negatives_added_and_padded():
    before = det_results([2, 5, 2])
    after = RandomSampleNegativeTexts(
        num_negatives=3, max_num_texts=8, seed=0)(copy.deepcopy(before))
    assert len(after['text']) == 8
    assert after['text_mask'] == (True, ) * 5 + (False, ) * 3
    assert after['text'][5:] == ('', '', '')
    assert after['text_label_ids'][5:] == (-1, -1, -1)
    kept_ids = set(after['text_label_ids'][:5])
    assert {2, 5} <= kept_ids and len(kept_ids) == 5
    assert len(after['gt_bboxes_labels']) == 3  # no box lost
    assert after['gt_bboxes_labels'].dtype == np.int64
    check_box_consistency(before, after)
    assert after['custom_entities'] is True


def test_overflowing_positives_drop_their_boxes_and_masks():
    before = det_results([0, 1, 2, 3, 1, 4])
    after = RandomSampleNegativeTexts(
        num_negatives=5, max_num_texts=2, seed=1)(copy.deepcopy(before))
    assert after['text_mask'] == (True, True)
    kept = set(after['text_label_ids'])
    assert len(kept) == 2 and kept <= {0, 1, 2, 3, 4}
    expected = sum(int(k) in kept for k in before['gt_bboxes_labels'])
    assert len(after['gt_bboxes']) == expected == len(after['gt_masks'])
    assert len(after['gt_ignore_flags']) == expected
    check_box_consistency(before, after)


def test_polygon_masks_and_no_padding():
    results = det_results([3, 7], with_masks=False)
    results['gt_masks'] = PolygonMasks(
        [[np.array([0, 0, 1, 0, 1, 1.])], [np.array([5, 5, 6, 5, 6, 6.])]],
        8, 8)
    after = RandomSampleNegativeTexts(
        num_negatives=(0, 2), max_num_texts=None, seed=0)(results)
    assert 2 <= len(after['text']) <= 4 and all(after['text_mask'])
    assert len(after['gt_masks']) == 2
    assert [after['text'][k] for k in after['gt_bboxes_labels']] == \
        ['class3', 'class7']


def seg_results():
    seg = np.full((6, 6), 255, dtype=np.uint8)
    seg[0:2] = 0
    seg[2:4] = 1
    seg[4:6, :3] = 3
    return dict(text=VOCAB[:5], gt_seg_map=seg)


def test_seg_map_remap_keeps_meaning():
    before = seg_results()
    after = RandomSampleNegativeTexts(
        num_negatives=1, max_num_texts=6, seed=0)(copy.deepcopy(before))
    assert after['text_mask'] == (True, ) * 4 + (False, ) * 2
    assert after['gt_seg_map'].dtype == np.uint8
    old, new = before['gt_seg_map'], after['gt_seg_map']
    assert np.array_equal(new == 255, old == 255)
    for value in (0, 1, 3):
        new_values = np.unique(new[old == value])
        assert len(new_values) == 1
        assert after['text'][new_values[0]] == VOCAB[value]
        assert after['text_label_ids'][new_values[0]] == value


def test_seg_dropped_classes_to_ignore_or_background():
    before = seg_results()
    after = RandomSampleNegativeTexts(
        num_negatives=0, max_num_texts=2, pad_to_max=False,
        seed=5)(copy.deepcopy(before))
    kept = set(after['text_label_ids'])
    assert len(kept) == 2
    for value in (0, 1, 3):
        region = after['gt_seg_map'][before['gt_seg_map'] == value]
        if value in kept:
            assert after['text'][region[0]] == VOCAB[value]
        else:
            assert (region == 255).all()

    after = RandomSampleNegativeTexts(
        num_negatives=0,
        max_num_texts=2,
        dropped_seg_label='background',
        background_label=0,
        seed=5)(copy.deepcopy(before))
    assert 0 in after['text_label_ids']  # background always kept
    background = after['text_label_ids'].index(0)
    (other, ) = set(after['text_label_ids']) - {0}
    for value in (0, 1, 3):
        region = after['gt_seg_map'][before['gt_seg_map'] == value]
        expected = (after['text_label_ids'].index(other)
                    if value == other else background)
        assert (region == expected).all()
    assert (after['gt_seg_map'][before['gt_seg_map'] == 255] == 255).all()


def test_large_vocabulary_upcasts_uint8_map():
    # more than 255 entries need an ignore_index above them and a wider map
    vocab = tuple(f'c{i}' for i in range(300))
    seg = np.zeros((4, 4), dtype=np.uint8)
    seg[0] = 7
    results = dict(text=vocab, gt_seg_map=seg)
    out = RandomSampleNegativeTexts(
        num_negatives=298, ignore_index=1000, seed=0)(results)
    assert len(out['text']) == 300
    assert out['gt_seg_map'].dtype == np.int32
    assert out['text'][out['gt_seg_map'][0, 0]] == 'c7'
    assert out['text'][out['gt_seg_map'][1, 0]] == 'c0'


def test_deterministic_under_seed():

    def run(seed, n=8):
        transform = RandomSampleNegativeTexts(
            num_negatives=(1, 4), max_num_texts=6, seed=seed)
        outs = []
        for _ in range(n):
            out = transform(det_results([2, 5, 2]))
            outs.append((out['text'], out['gt_bboxes_labels'].tolist()))
        return outs

    assert run(7) == run(7)
    assert run(7) != run(8)

    def run_global(seed):
        np.random.seed(seed)
        transform = RandomSampleNegativeTexts(num_negatives=3,
                                              max_num_texts=6)
        return [transform(det_results([1]))['text'] for _ in range(5)]

    assert run_global(3) == run_global(3)


def test_padding_entries_in_input_are_never_sampled():
    results = dict(
        text=('a', 'b', 'c', ''),
        text_mask=(True, True, True, False),
        text_label_ids=(-1, -1, -1, -1),
        gt_bboxes_labels=np.array([1]))
    out = RandomSampleNegativeTexts(num_negatives=10, seed=0)(results)
    assert sorted(out['text']) == ['a', 'b', 'c']
    assert out['text'][out['gt_bboxes_labels'][0]] == 'b'
    assert out['text_label_ids'] == (-1, -1, -1)


def test_errors():
    with pytest.raises(ValueError, match='LoadClassTexts'):
        RandomSampleNegativeTexts()(dict(gt_bboxes_labels=np.array([0])))
    with pytest.raises(ValueError, match=r'\[12\] do not index'):
        RandomSampleNegativeTexts()(
            dict(text=VOCAB, gt_bboxes_labels=np.array([12])))
    with pytest.raises(ValueError, match='background_label'):
        RandomSampleNegativeTexts(dropped_seg_label='background')
    with pytest.raises(ValueError, match='num_negatives'):
        RandomSampleNegativeTexts(num_negatives=(3, 1))
    with pytest.raises(ValueError, match='collide'):
        RandomSampleNegativeTexts(max_num_texts=4, ignore_index=2)(
            dict(text=VOCAB, gt_seg_map=np.zeros((2, 2), np.uint8)))
    with pytest.raises(ValueError, match='text_mask has 2'):
        RandomSampleNegativeTexts()(dict(text=VOCAB, text_mask=(True, True)))


def test_negative_pool_gives_a_one_class_dataset_negatives(tmp_path):
    pool = ['tree', 'Palm_trees', 'car', 'bow_(weapon)', 'bacterium', 'dog']
    transform = RandomSampleNegativeTexts(
        num_negatives=5, max_num_texts=4, negative_pool=pool,
        pool_exclude=['dogs'], seed=0)
    results = dict(text=('tree crown', ),
                   gt_bboxes=HorizontalBoxes(np.zeros((2, 4), np.float32)),
                   gt_bboxes_labels=np.array([0, 0]))
    out = transform(results)
    valid = [t for t, m in zip(out['text'], out['text_mask']) if m]
    # 'tree' / 'palm trees' share a word with the class, 'dog' is excluded
    assert sorted(valid) == ['bacterium', 'bow', 'car', 'tree crown']
    own = out['text'].index('tree crown')
    assert out['gt_bboxes_labels'].tolist() == [own, own]
    assert [i for t, i in zip(out['text'], out['text_label_ids'])
            if t != 'tree crown'] == [-1, -1, -1]
    # num_pool_negatives bounds the pool part; no limit pads nothing
    few = RandomSampleNegativeTexts(num_negatives=0, negative_pool=pool,
                                    num_pool_negatives=1, seed=0)(dict(
                                        text=('tree crown', ),
                                        gt_bboxes_labels=np.array([0])))
    assert len(few['text']) == 2 and 'tree crown' in few['text']


def test_negative_pool_from_files_and_datasets(tmp_path):
    names = tmp_path / 'names.txt'
    names.write_text('zebra\n\ngiraffe\n')
    prompts = tmp_path / 'prompts.yaml'
    prompts.write_text('classes: [{name: a, prompt: nucleus}]\n'
                       'negatives: {exclude: [giraffe]}\n')
    transform = RandomSampleNegativeTexts(
        num_negatives=0, num_pool_negatives=10,
        negative_pool=[str(names), 'mmdet.CocoDataset'],
        pool_exclude=str(prompts), seed=1)
    seg = np.array([[0, 0], [255, 0]], dtype=np.uint8)
    out = transform(dict(text=('cell nucleus', ), gt_seg_map=seg.copy()))
    pool_texts = set(out['text']) - {'cell nucleus'}
    assert len(pool_texts) == 10 and 'giraffe' not in pool_texts
    assert 'traffic_light' not in pool_texts  # names are cleaned
    own = out['text'].index('cell nucleus')
    assert (out['gt_seg_map'] == np.where(seg == 0, own, 255)).all()
    with pytest.raises(ValueError, match='num_pool_negatives'):
        RandomSampleNegativeTexts(negative_pool=['car'],
                                  num_pool_negatives=(3, 1))
