"""The prompts file: one YAML / JSON file of names, synonyms and templates
per class, read into the one vocabulary type."""
import json

import pytest

from mmvlm.datasets import class_texts
from mmvlm.structures import (PromptsFileMismatchError, Vocabulary,
                              load_prompts_file, write_prompts_file)
from mmvlm.structures.prompts_file import load_class_texts

YAML = '''
templates: ['a photo of a {}.']
classes:
  - name: nucleus
    prompt: cell nucleus
    synonyms: [nuclei]
  - name: background
    templates: ['{}']
negatives:
  exclude: [cell]
'''


def test_yaml_file_to_vocabulary_synonyms_share_the_label(tmp_path):
    path = tmp_path / 'prompts.yaml'
    path.write_text(YAML)
    prompts = load_prompts_file(str(path))
    assert prompts.names == ('nucleus', 'background')
    assert prompts.prompts == ('cell nucleus', 'background')
    assert prompts.negative_exclude == ('cell', )
    vocab = Vocabulary.from_file(str(path))
    assert vocab.entries == (('a photo of a cell nucleus.',
                              'a photo of a nuclei.'), 'background')
    assert vocab.label_ids == (0, 1)
    # parse takes the path like any other spelling
    assert Vocabulary.parse(str(path)) == vocab
    # the dataset's order decides the label ids
    swapped = Vocabulary.from_file(str(path), ['background', 'nucleus'])
    assert swapped.entries == ('background', vocab.entries[0])


def test_short_spellings_and_json_round_trip(tmp_path):
    path = tmp_path / 'p.yaml'
    path.write_text('classes: {nucleus: [cell nucleus, nuclei], dust: '
                    'dust speck}\n')
    assert Vocabulary.parse(str(path)).entries == (('cell nucleus', 'nuclei'),
                                                   'dust speck')
    written = write_prompts_file(str(tmp_path / 'w.json'), ['细胞', 'dust'],
                                 [['cell', '细胞'], 'dust'],
                                 negative_exclude=['cells'])
    data = json.loads(open(written, encoding='utf-8').read())
    assert data['classes'][0] == dict(name='细胞',
                                      prompt='cell',
                                      synonyms=['细胞'])
    again = load_prompts_file(written)
    assert again.entries == (('cell', '细胞'), 'dust')
    yaml_path = write_prompts_file(str(tmp_path / 'w.yaml'), ['a', 'b'])
    assert load_prompts_file(yaml_path).entries == ('a', 'b')


def test_mismatch_names_missing_extra_and_fix(tmp_path):
    path = tmp_path / 'prompts.yaml'
    path.write_text(YAML)
    with pytest.raises(PromptsFileMismatchError) as error:
        Vocabulary.from_file(str(path), ['nucleus', 'mitochondrion'],
                             where='train.json')
    message = str(error.value)
    assert "missing from the file: ['mitochondrion']" in message
    assert "not in train.json: ['background']" in message
    assert '`name` is the class name' in message


@pytest.mark.parametrize('text, match', [
    ('classes: []', 'non-empty list'),
    ('classes: [a, a]', 'given twice'),
    ('classes: [{name: a, colour: red}]', r"keys \['colour'\] unknown"),
    ('classes: [{prompt: a}]', '`name` missing'),
    ('classes: [a]\ntemplates: [photo]', 'exactly one'),
    ('classes: [{name: a, synonyms: ["  "]}]', 'blank'),
    ('clases: [a]', '`classes`'),
    ('classes: [a\n', 'not valid YAML'),
])
def test_bad_files_name_the_problem(tmp_path, text, match):
    path = tmp_path / 'bad.yml'
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_prompts_file(str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='new_project'):
        Vocabulary.parse(str(tmp_path / 'nothing.yaml'))


def test_class_texts_from_a_prompts_file_follow_the_dataset(tmp_path):
    path = tmp_path / 'prompts.yaml'
    path.write_text(YAML)
    texts = load_class_texts(str(path), classes=['background', 'nucleus'])
    assert texts == [('background', ),
                     ('a photo of a cell nucleus.', 'a photo of a nuclei.')]
    with pytest.raises(PromptsFileMismatchError, match='mitochondrion'):
        load_class_texts(str(path), classes=['nucleus', 'mitochondrion'])


def test_yolo_world_lists_read_by_both_readers(tmp_path):
    path = tmp_path / 'texts.json'
    path.write_text(json.dumps([['person', 'man'], 'dog']))
    # positional: the file's words need not be the dataset's names
    assert load_class_texts(str(path), classes=['human', 'canine']) == [
        ('person', 'man'), ('dog', )
    ]
    prompts = load_prompts_file(str(path))
    assert prompts.names == ('person', 'dog')
    assert Vocabulary.from_file(str(path)).entries == (('person', 'man'),
                                                       'dog')
    empty = tmp_path / 'empty.json'
    empty.write_text(json.dumps([['a'], []]))
    with pytest.raises(ValueError, match='synonym list of .*class 1'):
        load_prompts_file(str(empty))


def test_the_datasets_reader_is_this_one():
    assert class_texts.load_class_texts is load_class_texts


def test_a_missing_class_text_file_names_both_formats(tmp_path):
    with pytest.raises(FileNotFoundError, match='YOLO-World'):
        load_class_texts(str(tmp_path / 'missing.json'))
