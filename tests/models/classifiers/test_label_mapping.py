"""Dataset class ids <-> vocabulary entries (no mmpretrain needed)."""
import pytest
import torch

from mmvlm.models.classifiers.label_mapping import (
    dataset_to_entries, dataset_vocabulary, entry_labels_to_dataset,
    entry_scores_to_dataset, multi_label_targets, score_targets,
    single_label_targets)


def test_single_label_targets_and_missing_class_error():
    ids = [3, 0, 5]
    assert single_label_targets(torch.tensor([0, 5, 3]),
                                ids).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match=r'\[4\].*training vocabulary'):
        single_label_targets(torch.tensor([4, 0]), ids, 'M')


def test_multi_label_targets_drop_unscored_classes():
    assert multi_label_targets(torch.tensor([5, 4, 0]),
                               [3, 0, 5]).tolist() == [2, 1]


def test_scores_scatter_into_dataset_classes():
    scores = torch.tensor([[0.7, 0.2, 0.1]])
    out = entry_scores_to_dataset(scores, [3, 0, -1], num_classes=5)
    torch.testing.assert_close(out, torch.tensor([[0.2, 0, 0, 0.7, 0]]))
    # identity: unchanged object
    assert entry_scores_to_dataset(scores, [0, 1, 2], 3) is scores
    # ids beyond the dataset grow the output
    assert entry_scores_to_dataset(scores, [0, 1, 6], 3).shape == (1, 7)


def test_labels_and_soft_targets():
    labels = torch.tensor([0, 2])
    assert entry_labels_to_dataset(labels, [3, 0, -1]).tolist() == [3, 2]
    assert entry_labels_to_dataset(labels, [3, 0, -1], fill=-1).tolist() == \
        [3, -1]
    soft = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    torch.testing.assert_close(score_targets(soft, [3, 0, -1]),
                               torch.tensor([[0.4, 0.1, 0.0]]))
    assert dataset_to_entries([2, 0], 4).tolist() == [1, -1, 0, -1]


def test_dataset_vocabulary_reads_registered_classes():
    from mmengine.registry import Registry
    registry = Registry('test datasets')

    @registry.register_module()
    class Flowers:
        METAINFO = dict(classes=('rose', 'tulip', 'Rose'))

    assert dataset_vocabulary('Flowers',
                              registry) == ['rose', 'tulip', 'Rose, class 2']
    assert dataset_vocabulary('a rose. a tulip', registry) == \
        'a rose. a tulip'
    assert dataset_vocabulary(['rose'], registry) == ['rose']
