"""Class-text files and caption truncation."""
import json

import pytest

from mmvlm.datasets.class_texts import load_class_texts, truncate_text


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


def test_truncate_text():
    assert truncate_text('short', 10) == ('short', False)
    assert truncate_text('one two three four', 9) == ('one two', True)
    assert truncate_text('one two three', 7) == ('one two', True)
    assert truncate_text('abcdefghij', 4) == ('abcd', True)
    assert truncate_text('日本語の長い文章です', 4) == ('日本語の', True)
