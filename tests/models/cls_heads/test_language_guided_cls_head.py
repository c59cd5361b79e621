"""LanguageGuidedClsHead / LanguageGuidedMultiLabelClsHead: the stock
mmpretrain heads scoring against a vocabulary (needs mmpretrain: runs in
.venv-mmpretrain, see tools/env/setup_mmpretrain_env.sh)."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmpretrain',
                    reason='mmpretrain is not installed in '
                    'this environment (build .venv-mmpretrain with '
                    'tools/env/setup_mmpretrain_env.sh)')

from mmpretrain.models.heads import (
    LinearClsHead,  # noqa: E402
    MultiLabelLinearClsHead)
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.models.cls_heads import (
    LanguageGuidedClsHead,  # noqa: E402
    LanguageGuidedMultiLabelClsHead)
from mmvlm.models.layers import ContrastiveClassifier  # noqa: E402

DEFAULT_SCOPE = 'mmpretrain'


def text(k: int, dims: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(k, dims, generator=gen), dim=-1)


def test_registered_and_stock_subclasses():
    assert MODELS.get('LanguageGuidedClsHead') is LanguageGuidedClsHead
    assert MODELS.get('LanguageGuidedMultiLabelClsHead') is \
        LanguageGuidedMultiLabelClsHead
    assert issubclass(LanguageGuidedClsHead, LinearClsHead)
    assert issubclass(LanguageGuidedMultiLabelClsHead, MultiLabelLinearClsHead)


def test_hidden_layer_maps_features_before_the_classifier():
    head = MODELS.build(
        dict(type='LanguageGuidedClsHead',
             num_classes=5,
             in_channels=16,
             embed_dims=8,
             hidden_dims=32))
    head.init_weights()
    assert head.fc.embed.in_features == 32
    feats = (torch.randn(3, 16), )
    assert head.pre_logits(feats).shape == (3, 32)
    with head.vocabulary(text(4)):
        assert head(feats).shape == (3, 4)
    with pytest.raises(ValueError, match='hidden_dims=0'):
        MODELS.build(
            dict(type='LanguageGuidedClsHead',
                 num_classes=5,
                 in_channels=16,
                 hidden_dims=0))


def test_softmax_head_scores_any_vocabulary():
    head = MODELS.build(
        dict(type='LanguageGuidedClsHead',
             num_classes=5,
             in_channels=16,
             embed_dims=8))
    head.init_weights()
    assert isinstance(head.fc, ContrastiveClassifier)
    assert float(head.fc.bias) == 0.0  # softmax: no prior bias
    feats = (torch.randn(3, 16), )
    for k in (2, 7):
        with head.vocabulary(text(k)):
            assert head.num_classes == k
            logits = head(feats)
            assert logits.shape == (3, k)
            samples = [DataSample().set_gt_label(i % k) for i in range(3)]
            loss = head.loss(feats, samples)['loss']
            expected = F.cross_entropy(logits, torch.tensor([0, 1, 2]) % k)
            torch.testing.assert_close(loss, expected)
            preds = head.predict(feats)
            torch.testing.assert_close(preds[0].pred_score,
                                       logits[0].softmax(-1))
        assert head.num_classes == 5


def test_per_image_vocabulary_and_padding():
    head = LanguageGuidedClsHead(num_classes=3, in_channels=16, embed_dims=8)
    feats = (torch.randn(2, 16), )
    embeds = torch.stack([text(3, seed=1), text(3, seed=2)])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    with head.vocabulary(embeds, mask):
        logits = head(feats)
    assert logits.shape == (2, 3)
    assert logits[0, 2] < -1e3  # padding slot
    with head.vocabulary(embeds[1]):  # row 1 alone, shared vocabulary
        torch.testing.assert_close(head(feats)[1], logits[1])


def test_multi_label_head_sigmoid_loss_and_threshold():
    head = MODELS.build(
        dict(type='LanguageGuidedMultiLabelClsHead',
             num_classes=4,
             in_channels=16,
             embed_dims=8,
             thr=0.5))
    feats = (torch.randn(2, 16), )
    with head.vocabulary(text(4)):
        logits = head(feats)
        samples = [
            DataSample().set_gt_label([0, 2]),
            DataSample().set_gt_label([1])
        ]
        loss = head.loss(feats, samples)['loss']
        target = torch.tensor([[1., 0, 1, 0], [0, 1, 0, 0]])
        expected = F.binary_cross_entropy_with_logits(
            logits, target, reduction='sum') / 2
        torch.testing.assert_close(loss, expected)
        preds = head.predict(feats)
    assert preds[0].pred_score.shape == (4, )
    assert set(preds[0].pred_label.tolist()) == set(
        torch.where(logits[0].sigmoid() >= 0.5)[0].tolist())


def test_baked_vocabulary_scores_without_text():
    head = LanguageGuidedClsHead(num_classes=3, in_channels=16, embed_dims=8)
    feats = (torch.randn(2, 16), )
    with head.vocabulary(text(3)):
        expected = head(feats)
    head.bake_vocabulary(text(3))
    torch.testing.assert_close(head(feats), expected)
    assert head.num_classes == 3


def test_head_without_vocabulary_says_how_to_give_one():
    head = LanguageGuidedClsHead(num_classes=3, in_channels=16, embed_dims=8)
    with pytest.raises(RuntimeError, match='vocabulary'):
        head((torch.randn(1, 16), ))
