"""LoadClassTexts: where the vocabulary comes from and how it is shaped."""
import json

import numpy as np
import pytest

from mmvlm.datasets import LoadClassTexts


def test_from_results_text_like_mmdet_return_classes():
    # mmdet datasets built with return_classes=True put metainfo classes
    # into results['text'].
    results = dict(text=('traffic_light', 'wall-other-merged', 'person'),
                   gt_bboxes_labels=np.array([2, 0]))
    out = LoadClassTexts()(results)
    assert out['text'] == ('traffic light', 'wall', 'person')
    assert out['text_mask'] == (True, True, True)
    assert out['text_label_ids'] == (0, 1, 2)
    assert out['custom_entities'] is True
    # labels still index into text unchanged
    assert out['gt_bboxes_labels'].tolist() == [2, 0]


def test_from_odvg_label_map():
    # mmdet's ODVGDataset (OD mode) puts its label map into results['text']
    out = LoadClassTexts()(dict(text={'1': 'dog_(pet)', '0': 'cat'}))
    assert out['text'] == ('cat', 'dog')
    with pytest.raises(ValueError, match='without gaps'):
        LoadClassTexts()(dict(text={'0': 'cat', '2': 'dog'}))


def test_from_classes_argument_and_templates():
    transform = LoadClassTexts(
        classes=['cat', ['dog', 'puppy']],
        templates=['a photo of a {}.', 'a {}.'])
    out = transform(dict())
    assert out['text'] == (('a photo of a cat.', 'a cat.'),
                           ('a photo of a dog.', 'a photo of a puppy.',
                            'a dog.', 'a puppy.'))


def test_class_text_file_overrides_and_is_checked(class_text_file):
    transform = LoadClassTexts(class_text_path=class_text_file)
    out = transform(dict(text=('a', 'b', 'c', 'd')))
    assert out['text'] == (('traffic light', 'stop light'),
                           ('dog', 'Hündchen'), 'wall', 'bow')
    with pytest.raises(ValueError,
                       match=r'has 4 entries but the dataset has 3 classes'):
        transform(dict(text=('a', 'b', 'c')))
    with pytest.raises(ValueError, match=r'has 4 entries .* has 2 classes'):
        LoadClassTexts(classes=['a', 'b'], class_text_path=class_text_file)


def test_synonym_modes(class_text_file):
    first = LoadClassTexts(class_text_path=class_text_file,
                           synonym_mode='first')(dict())
    assert first['text'] == ('traffic light', 'dog', 'wall', 'bow')

    def draw(seed):
        transform = LoadClassTexts(
            class_text_path=class_text_file, synonym_mode='random',
            seed=seed)
        return [transform(dict())['text'] for _ in range(20)]

    runs = draw(3)
    assert runs == draw(3)  # deterministic under a seed
    firsts = {r[0] for r in runs}
    assert firsts == {'traffic light', 'stop light'}  # both synonyms drawn
    assert all(r[2:] == ('wall', 'bow') for r in runs)


def test_no_vocabulary_is_a_clear_error():
    with pytest.raises(ValueError, match='return_classes=True'):
        LoadClassTexts()(dict(img_path='x.png'))
    with pytest.raises(ValueError, match='PhraseGroundingDataset'):
        LoadClassTexts()(dict(text='a cat on a mat'))
    # a caption in results does not block an explicit class list
    out = LoadClassTexts(classes=['cat'])(dict(text='a cat on a mat'))
    assert out['text'] == ('cat', )


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='synonym_mode'):
        LoadClassTexts(classes=['a'], synonym_mode='some')
    with pytest.raises(TypeError, match='single string'):
        LoadClassTexts(classes='cat')
    with pytest.raises(ValueError, match='empty'):
        LoadClassTexts(classes=[['a'], []])
    path = tmp_path / 'empty_syn.json'
    path.write_text(json.dumps([['a'], []]))
    with pytest.raises(ValueError, match='class 1'):
        LoadClassTexts(class_text_path=str(path))


def test_non_ascii_preserved_and_clean_off():
    out = LoadClassTexts(classes=['Straße', '猫_(animal)'])(dict())
    assert out['text'] == ('Straße', '猫')
    raw = LoadClassTexts(
        classes=['Straße', '猫_(animal)'], clean_names=False)(dict())
    assert raw['text'] == ('Straße', '猫_(animal)')


def test_registered_in_both_codebases():
    from mmdet.registry import TRANSFORMS as DET
    from mmseg.registry import TRANSFORMS as SEG
    assert DET.get('LoadClassTexts') is LoadClassTexts
    assert SEG.get('LoadClassTexts') is LoadClassTexts
    built = DET.build(dict(type='LoadClassTexts', classes=['a']))
    assert isinstance(built, LoadClassTexts)


@pytest.mark.parametrize('source', ['results', 'classes'])
def test_classes_the_model_cannot_tell_apart_are_flagged(source):
    """The return_classes=True path (results['text']) and the classes
    argument flag case-only duplicates and shared synonyms as the prompts
    file, class-text json and MultiModalDataset paths do; both classes are
    kept (their label ids belong to the data)."""
    from unittest import mock
    classes = ('oak', 'Oak', ('car', 'automobile'), ('Automobile', 'truck'))
    with mock.patch('mmvlm.structures.prompt_checks.print_log') as log:
        if source == 'results':
            out = LoadClassTexts()(dict(text=classes))
        else:
            out = LoadClassTexts(classes=classes)(dict())
    assert len(out['text']) == 4
    assert log.call_count == 1
    message = log.call_args[0][0]
    assert 'cannot tell apart' in message
    assert ("class 0 ('oak') and class 1 ('Oak') have the same prompts up "
            'to case / spacing') in message
    assert ("'Automobile' of class 3 ('Automobile') is also a prompt of "
            "class 2 ('car')") in message
    where = ("results['text']" if source == 'results' else
             'The classes argument of LoadClassTexts')
    assert where in message
