"""mmvlm.structures.vocabulary: the one vocabulary type, its parser, the
precedence rule, name cleaning and templates."""
from unittest import mock

import pytest
import torch

from mmvlm.registry import codebase_available
from mmvlm.structures import (BatchVocabulary, MissingVocabularyError,
                              Vocabulary, clean_class_name, expand_prompts,
                              normalize_templates, normalize_vocabulary,
                              select_batch_vocabulary, split_batch_texts)


# ------------------------------------------------------------- names
@pytest.mark.parametrize('raw, cleaned', [
    ('traffic_light', 'traffic light'),
    ('wall-other-merged', 'wall'),
    ('tree-merged', 'tree'),
    ('sky-other', 'sky'),
    ('desk-stuff', 'desk'),
    ('floor-marble', 'floor-marble'),
    ('t-shirt', 't-shirt'),
    ('bow_(weapon)', 'bow'),
    ('  baseball   bat ', 'baseball bat'),
    ('Straße_(Köln)', 'Straße'),
    ('(only qualifier)', 'only qualifier'),
    ('猫', '猫'),
])
def test_clean_class_name(raw, cleaned):
    assert clean_class_name(raw) == cleaned


def test_clean_class_name_keep_parentheses():
    assert clean_class_name('bow_(weapon)', parentheses='keep') == \
        'bow weapon'
    with pytest.raises(ValueError, match='parentheses'):
        clean_class_name('x', parentheses='nope')
    with pytest.raises(ValueError, match='empty'):
        clean_class_name(' _ ')
    with pytest.raises(TypeError, match='must be a str'):
        clean_class_name(3)


# --------------------------------------------------------- templates
def test_templates():
    templates = normalize_templates(['a photo of a {}.', 'a {} in the wild'])
    prompts, owners = expand_prompts([('cat', 'kitty')],
                                     templates,
                                     template_major=True)
    assert tuple(prompts) == ('a photo of a cat.', 'a photo of a kitty.',
                              'a cat in the wild', 'a kitty in the wild')
    assert owners == [0, 0, 0, 0]
    assert expand_prompts([('cat', )], normalize_templates(None))[0] == ['cat']
    with pytest.raises(ValueError, match='placeholder'):
        normalize_templates(['no placeholder'])


def test_expand_prompts_name_major_with_owners():
    entries = normalize_vocabulary(['cat', ('dog', 'puppy')])
    prompts, owners = expand_prompts(entries, ('a {}.', 'the {}'))
    assert prompts == [
        'a cat.', 'the cat', 'a dog.', 'the dog', 'a puppy.', 'the puppy'
    ]
    assert owners == [0, 0, 1, 1, 1, 1]


# ----------------------------------------------------------- parsing
def test_parse_list_prompt_string_and_synonyms():
    assert Vocabulary.parse('a red car. a person.') == [
        'a red car', 'a person'
    ]
    vocab = Vocabulary.parse([' cat ', ['dog', 'puppy']], label_ids=[3, 7])
    assert vocab.entries == ('cat', ('dog', 'puppy'))
    assert vocab.label_ids == (3, 7) and vocab.names == ('cat', 'dog')
    assert vocab.mask == (True, True) and not vocab.is_identity
    assert Vocabulary.parse(vocab) is vocab


def test_parse_errors_name_the_value_and_the_fix():
    for empty in ('', ' . ', [], dict(texts=[])):
        with pytest.raises(ValueError, match='zero prompts'):
            Vocabulary.parse(empty)
    with pytest.raises(ValueError, match='entry 1 is blank'):
        Vocabulary.parse(['cat', '  '])
    with pytest.raises(TypeError, match='must be a string'):
        Vocabulary.parse(['cat', 3])
    with pytest.raises(ValueError, match='label_ids'):
        Vocabulary.parse(dict(texts=['a'], label_ids=[1, 2]))
    with pytest.raises(ValueError, match='exactly one of'):
        Vocabulary.parse(dict(classes=['a']))
    with pytest.raises(TypeError, match='dataset name'):
        Vocabulary.parse(3)


def test_duplicates_are_dropped_with_one_warning():
    target = 'mmvlm.structures.prompt_checks.print_log'
    with mock.patch(target) as log:
        first = Vocabulary.parse('tree. Tree. bush', label_ids=[4, 5, 6])
        Vocabulary.parse('tree. Tree. bush', label_ids=[4, 5, 6])
    assert first.entries == ('tree', 'bush') and first.label_ids == (4, 6)
    assert log.call_count == 1 and 'Duplicate' in log.call_args[0][0]


def test_dataset_lookup_names_a_broken_codebase():
    from mmvlm.structures.vocabulary import dataset_texts
    broken = ModuleNotFoundError("No module named 'scipy'", name='scipy')
    with mock.patch('importlib.import_module', side_effect=broken):
        with pytest.raises(ImportError) as info:
            dataset_texts('mmdet.CocoDataset')
    assert 'mmdet is installed but importing mmdet.registry failed' in str(
        info.value) and "'scipy'" in str(info.value)
    missing = ModuleNotFoundError("No module named 'mmdet'", name='mmdet')
    with mock.patch('importlib.import_module', side_effect=missing):
        with pytest.raises(KeyError, match='names no dataset'):
            dataset_texts('mmdet.CocoDataset')


@pytest.mark.skipif(not codebase_available('mmseg'), reason='needs mmseg')
def test_parse_registered_mmseg_datasets():
    import mmvlm  # noqa: F401  (registers KvasirSEGDataset)
    vocab = Vocabulary.parse('ADE20KDataset')
    assert len(vocab) == 150 and vocab.label_ids == tuple(range(150))
    vocab = Vocabulary.parse(dict(dataset='ADE20KDataset', label_ids=[0, 12]))
    assert vocab.entries == ('wall', 'person') and vocab.label_ids == (0, 12)
    assert Vocabulary.parse('KvasirSEGDataset')[1][0] == 'polyp'
    assert len(Vocabulary.parse('mmseg.ADE20KDataset')) == 150
    with pytest.raises(KeyError, match='NoSuchDataset'):
        Vocabulary.parse('NoSuchDataset')
    with pytest.raises(ValueError, match='is not a class of'):
        Vocabulary.parse(dict(dataset='ADE20KDataset', label_ids=[150]))


@pytest.mark.skipif(not codebase_available('mmdet'), reason='needs mmdet')
def test_parse_registered_mmdet_dataset():
    assert len(Vocabulary.parse(dict(dataset='LVISV1Dataset'))) == 1203
    assert len(Vocabulary.parse('LVISV1Dataset')) == 1203


# ---------------------------------------------------------- metainfo
def test_from_metainfo_keeps_padding_masked():
    vocab = Vocabulary.from_metainfo(
        dict(text=('cat', ('dog', 'puppy'), ''), text_label_ids=(5, 9, 3)))
    assert vocab.mask == (True, True, False)
    assert vocab.label_ids == (5, 9, -1)
    assert vocab.synonyms() == (('cat', ), ('dog', 'puppy'), ())
    assert Vocabulary.from_metainfo(dict(text='cat. dog')) == ['cat', 'dog']


def test_from_metainfo_errors_name_the_image():
    with pytest.raises(ValueError, match=r"'a\.jpg'.*empty vocabulary"):
        Vocabulary.from_metainfo(dict(img_path='a.jpg', text=()))
    with pytest.raises(ValueError, match='text_mask has 2'):
        Vocabulary.from_metainfo(
            dict(text=('a', 'b', 'c'), text_mask=(True, True)))
    meta = dict(text=('', ''), text_mask=(False, False))
    assert Vocabulary.from_metainfo(meta).num_valid == 0
    with pytest.raises(ValueError, match='empty vocabulary'):
        Vocabulary.from_metainfo(meta, require_valid=True)


def test_map_labels():
    vocab = Vocabulary(['a', 'b', ''], label_ids=[7, -1, 3])
    labels = torch.tensor([0, 1, 2])
    assert vocab.map_labels(labels).tolist() == [7, 1, 2]
    assert vocab.map_labels(labels, fill=255).tolist() == [7, 255, 255]


def test_split_batch_texts():
    assert split_batch_texts(['a', 'b'], 2) == (False, [['a', 'b']])
    assert split_batch_texts([['a'], ['b', 'c']], 2)[0]
    with pytest.raises(ValueError, match='3 per-image vocabularies'):
        split_batch_texts([['a'], ['b'], ['c']], 2, per_image=True)


# -------------------------------------------------------- precedence
def test_precedence_override_samples_configured_dataset_meta():
    metas = [dict(text=('cat', 'dog')), dict(text=('cat', 'dog'))]
    override = Vocabulary.parse('a red car. a person. a tree')
    configured = Vocabulary.parse(['sky'])

    def select(**kwargs):
        args = dict(training=False,
                    override=override,
                    configured=configured,
                    dataset_classes=('x', 'y'))
        args.update(kwargs)
        return select_batch_vocabulary(metas, 2, **args)

    # at inference the override wins, also over the samples' text
    vocab = select()
    assert vocab.source == 'override' and vocab.shared
    assert vocab.neck_texts() == list(override)
    # in training it is not used
    assert select(training=True).source == 'data_samples'
    assert select(override=None).texts == [['cat', 'dog']] * 2
    assert select(override=None, use_samples=False).source == 'model'
    vocab = select(override=None, configured=None, use_samples=False)
    assert vocab.source == 'dataset_meta' and vocab.texts[0] == ['x', 'y']
    with pytest.raises(MissingVocabularyError, match='no vocabulary'):
        select(override=None,
               configured=None,
               dataset_classes=None,
               use_samples=False)
    with pytest.raises(ValueError, match='some do not'):
        select_batch_vocabulary([metas[0], {}], 2, training=False)


def test_batch_vocabulary_per_image_mask_and_labels():
    vocab = BatchVocabulary([
        Vocabulary(['cat', 'dog', ''], label_ids=[5, 9, -1]),
        Vocabulary(['zebra', 'dog', 'cat'], label_ids=[40, 9, 5])
    ], 'data_samples')
    assert not vocab.shared and vocab.num_entries == 3
    assert vocab.neck_texts() == [['cat', 'dog', ''], ['zebra', 'dog', 'cat']]
    assert vocab.mask_tensor(4).tolist() == [[True, True, False, False],
                                             [True, True, True, False]]
    assert vocab.map_labels(1, torch.tensor([0, 2])).tolist() == [40, 5]
