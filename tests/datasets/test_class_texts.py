"""Class-name cleaning, class-text files, templates and truncation."""
import json

import pytest

from mmvlm.datasets.class_texts import (check_templates, clean_class_name,
                                        expand_templates, load_class_texts,
                                        truncate_text)


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


def test_load_class_texts_yolo_world_format(tmp_path):
    path = tmp_path / 'texts.json'
    path.write_text(
        json.dumps([['person', 'man'], 'dog', ['Käse', 'チーズ']],
                   ensure_ascii=False),
        encoding='utf-8')
    texts = load_class_texts(str(path), classes=['a', 'b', 'c'])
    assert texts == [('person', 'man'), ('dog', ), ('Käse', 'チーズ')]


def test_load_class_texts_length_mismatch_names_both_counts(tmp_path):
    path = tmp_path / 'texts.json'
    path.write_text(json.dumps([['a'], ['b']]))
    with pytest.raises(ValueError, match=r'has 2 entries .* has 3 classes'):
        load_class_texts(str(path), classes=['a', 'b', 'c'])


def test_load_class_texts_bad_files(tmp_path):
    empty = tmp_path / 'empty.json'
    empty.write_text(json.dumps([['a'], []]))
    with pytest.raises(ValueError, match=r'synonym list of class 1 .*empty'):
        load_class_texts(str(empty))
    blank = tmp_path / 'blank.json'
    blank.write_text(json.dumps([['a', ' ']]))
    with pytest.raises(ValueError, match='empty string'):
        load_class_texts(str(blank))
    not_list = tmp_path / 'obj.json'
    not_list.write_text(json.dumps({'a': 1}))
    with pytest.raises(ValueError, match='json list'):
        load_class_texts(str(not_list))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_class_texts(str(tmp_path / 'missing.json'))


def test_templates():
    templates = check_templates(['a photo of a {}.', 'a {} in the wild'])
    assert expand_templates(('cat', 'kitty'), templates) == (
        'a photo of a cat.', 'a photo of a kitty.', 'a cat in the wild',
        'a kitty in the wild')
    assert expand_templates(('cat', ), None) == ('cat', )
    with pytest.raises(ValueError, match='placeholder'):
        check_templates(['no placeholder'])


def test_truncate_text():
    assert truncate_text('short', 10) == ('short', False)
    assert truncate_text('one two three four', 9) == ('one two', True)
    assert truncate_text('one two three', 7) == ('one two', True)
    assert truncate_text('abcdefghij', 4) == ('abcd', True)
    assert truncate_text('日本語の長い文章です', 4) == ('日本語の', True)
