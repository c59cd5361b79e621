"""Names that must be refused or flagged, the same way on every path that
reads class names: a list / prompts string in code, a prompts file, a
class-text json, a dataset's classes (MultiModalDataset)."""
import json
from unittest import mock

import pytest

from mmvlm.datasets.class_texts import load_class_texts
from mmvlm.structures import (Vocabulary, check_synonyms, load_prompts_file,
                              vocabulary_conflicts)

LOG = 'mmvlm.structures.prompt_checks.print_log'


def _paths(tmp_path, classes):
    """Every way a list of classes (names or synonym lists) reaches mmvlm:
    each returns a callable reading it."""
    prompts_yaml = tmp_path / 'prompts.yaml'
    lines = ['classes:']
    for i, c in enumerate(classes):
        words = [c] if isinstance(c, str) else list(c)
        lines.append(f'  - name: {json.dumps(f"class_{i}")}')
        lines.append(f'    prompt: {json.dumps(words[0])}')
        if len(words) > 1:
            lines.append(f'    synonyms: {json.dumps(words[1:])}')
    prompts_yaml.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    class_texts = tmp_path / 'class_texts.json'
    class_texts.write_text(json.dumps(
        [[c] if isinstance(c, str) else list(c) for c in classes]),
                           encoding='utf-8')
    return {
        'list': lambda: Vocabulary.parse(list(classes)),
        'prompts file': lambda: load_prompts_file(str(prompts_yaml)),
        'class-text json': lambda: load_class_texts(str(class_texts)),
    }


@pytest.mark.parametrize('name, match', [
    ('\x00\x00', 'control character U\\+0000'),
    ('tr\x07ee', 'control character U\\+0007 at position 2'),
    ('\u200b', 'no visible character \\(only U\\+200B\\)'),
    ('\u200b\u200d\ufeff', 'no visible character'),
    ('   ', 'blank'),
    ('', 'blank'),
])
def test_invisible_and_control_names_are_refused_on_every_path(
        tmp_path, name, match):
    for path, read in _paths(tmp_path, ['tree', ('bush', name)]).items():
        with pytest.raises(ValueError, match=match):
            read()
    if name:  # a lone '' is padding in per-image vocabularies
        with pytest.raises(ValueError, match=match):
            Vocabulary([name])


def test_visible_non_printable_names_are_kept():
    # a zero-width joiner inside an emoji / Persian word, a no-break space
    for name in ('👨\u200d👩\u200d👧', 'می\u200cخواهم', 'New\u00a0York'):
        assert check_synonyms(name, 'class 0') == (name, )


def test_case_only_duplicates_and_shared_synonyms_are_flagged_everywhere(
        tmp_path):
    classes = ['tree', 'Tree', ('car', 'automobile'),
               ('Automobile', 'truck')]
    conflicts = vocabulary_conflicts(classes)
    assert conflicts == [
        "class 0 ('tree') and class 1 ('Tree') have the same prompts up to "
        'case / spacing',
        "'Automobile' of class 3 ('Automobile') is also a prompt of class 2 "
        "('car')"
    ]
    for path, read in _paths(tmp_path, classes).items():
        with mock.patch(LOG) as log:
            read()
        messages = ' '.join(c[0][0] for c in log.call_args_list)
        names = ('class_0', 'class_1', 'class_3', 'class_2') \
            if path == 'prompts file' else ('tree', 'Tree', 'Automobile',
                                             'car')
        assert (f"'Automobile' of class 3 ('{names[2]}') is also a prompt "
                f"of class 2 ('{names[3]}')") in messages, path
        assert 'cannot tell apart' in messages, path
        same = (f"class 0 ('{names[0]}') and class 1 ('{names[1]}') have "
                'the same prompts up to case / spacing')
        if path == 'list':
            # free prompts: the repeat is dropped (no label id at stake)
            assert "Duplicate prompts ['Tree'] were removed" in messages
            assert same not in messages
        else:  # files keep both classes: their label ids are the data's
            assert same in messages, path
    # once per distinct vocabulary and source, not on every read
    read = _paths(tmp_path, classes)['class-text json']
    with mock.patch(LOG) as log:
        read()
    assert log.call_count == 0


def test_multimodal_dataset_flags_its_classes():
    from mmvlm.datasets import MultiModalDataset

    class Toy:
        metainfo = dict(classes=('tree', 'TREE ', 'bush'))

        def __len__(self):
            return 0

        def get_data_info(self, idx):
            return {}

    with mock.patch(LOG) as log:
        dataset = MultiModalDataset(Toy())
    assert dataset.class_texts == ('tree', 'TREE ', 'bush')
    assert "class 0 ('tree') and class 1 ('TREE ')" in log.call_args[0][0]

    class Bad(Toy):
        metainfo = dict(classes=('tree', '\u200b'))

    with pytest.raises(ValueError, match='Class 1 of Bad'):
        MultiModalDataset(Bad())
