"""LanguageGuidedImageClassifier: stock ImageClassifier + the model mixin;
labels mapped both ways so the stock metrics evaluate unchanged (needs
mmpretrain: runs in .venv-mmpretrain)."""
import pytest
import torch

pytest.importorskip('mmpretrain',
                    reason='mmpretrain is not installed in '
                    'this environment (build .venv-mmpretrain with '
                    'tools/env/setup_mmpretrain_env.sh)')

from mmpretrain.evaluation import Accuracy, MultiLabelMetric  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

DEFAULT_SCOPE = 'mmpretrain'
CLASSES = ('dog', 'cat', 'red car', 'bus')


def classifier_cfg(head='LanguageGuidedClsHead', **kwargs):
    cfg = dict(type='LanguageGuidedImageClassifier',
               backbone=dict(type='ResNet',
                             depth=18,
                             base_channels=8,
                             stem_channels=8,
                             out_indices=(3, )),
               neck=dict(type='LLMPrefixNeck',
                         neck=dict(type='GlobalAveragePooling'),
                         text_encoder=tiny_text_encoder_cfg('bert',
                                                            embed_dims=16)),
               head=dict(type=head,
                         num_classes=len(CLASSES),
                         in_channels=64,
                         embed_dims=16))
    cfg.update(kwargs)
    return cfg


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    from mmengine.registry import DefaultScope
    DefaultScope.get_instance('lg-cls-fixture', scope_name='mmpretrain')
    model = MODELS.build(classifier_cfg())
    model.init_weights()
    model.dataset_meta = dict(classes=CLASSES)
    return model.eval()


def samples(labels):
    return [DataSample().set_gt_label(i) for i in labels]


def test_loss_and_predict_on_dataset_classes(model):
    images = torch.randn(2, 3, 32, 32)
    model.train()
    loss = model(images, samples([1, 3]), mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.conv1.weight.grad is not None
    assert all(p.grad is None for p in model.neck.text_encoder.lm.parameters())
    model.eval()
    with torch.no_grad():
        preds = model(images, samples([1, 3]), mode='predict')
        logits = model(images, mode='tensor')
    assert logits.shape == (2, 4)
    torch.testing.assert_close(preds[0].pred_score, logits[0].softmax(-1))
    assert preds[0].pred_label.item() == int(logits[0].argmax())


def test_held_out_vocabulary_maps_back_and_stock_accuracy_scores_it(model):
    images = torch.randn(3, 3, 32, 32)
    model.set_vocabulary(['bus', 'dog'], label_ids=[3, 0])
    try:
        with torch.no_grad():
            preds = model(images, samples([3, 0, 3]), mode='predict')
            logits = model(images, mode='tensor')
    finally:
        model.set_vocabulary(None)
    assert logits.shape == (3, 2)
    for pred, row in zip(preds, logits.softmax(-1)):
        assert pred.pred_score.shape == (4, )
        assert float(pred.pred_score[1]) == 0.0  # 'cat' was not scored
        torch.testing.assert_close(pred.pred_score[[3, 0]], row)
        assert pred.pred_label.item() == [3, 0][int(row.argmax())]
    metric = Accuracy(topk=(1, ))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, [p.to_dict() for p in preds])
    expected = sum(p.pred_label.item() == g
                   for p, g in zip(preds, [3, 0, 3])) / 3 * 100
    assert metric.evaluate(3)['accuracy/top1'] == pytest.approx(expected)


def test_training_on_a_vocabulary_subset_maps_targets():
    torch.manual_seed(0)
    model = MODELS.build(
        classifier_cfg(
            train_vocabulary=dict(texts=['cat', 'bus'], label_ids=[1, 3])))
    images = torch.randn(2, 3, 32, 32)
    loss = model(images, samples([3, 1]), mode='loss')['loss']
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match=r'\[0\].*not in the training'):
        model(images, samples([0, 1]), mode='loss')


def test_baked_model_predicts_the_same_without_language_model():
    torch.manual_seed(0)
    model = MODELS.build(classifier_cfg(vocabulary=list(CLASSES))).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(images, mode='predict')
        model.bake_vocabulary()
        after = model(images, mode='predict')
    assert not model.with_text_neck and model.is_baked
    assert not any('text_encoder' in k for k in model.state_dict())
    for a, b in zip(before, after):
        torch.testing.assert_close(a.pred_score, b.pred_score)
    with pytest.raises(ValueError, match='baked'):
        model.set_vocabulary(['dog'])


def test_multi_label_variant_with_stock_metric():
    torch.manual_seed(0)
    model = MODELS.build(
        classifier_cfg('LanguageGuidedMultiLabelClsHead',
                       vocabulary=list(CLASSES)))
    images = torch.randn(2, 3, 32, 32)
    gts = [DataSample().set_gt_label([0, 2]), DataSample().set_gt_label([3])]
    loss = model(images, gts, mode='loss')['loss']
    assert torch.isfinite(loss)
    model.eval()
    model.set_vocabulary(['red car', 'dog'], label_ids=[2, 0])
    with torch.no_grad():
        preds = model(images, [
            DataSample().set_gt_label([0, 2]),
            DataSample().set_gt_label([3])
        ],
                      mode='predict')
    assert preds[0].pred_score.shape == (4, )
    assert float(preds[0].pred_score[3]) == 0.0
    metric = MultiLabelMetric()
    metric.process(None, [p.to_dict() for p in preds])
    assert 'multi-label/f1-score' in metric.evaluate(2)


def test_needs_a_language_guided_head():
    cfg = classifier_cfg()
    cfg['head'] = dict(type='LinearClsHead', num_classes=4, in_channels=64)
    with pytest.raises(TypeError, match='language-guided head'):
        MODELS.build(cfg)
