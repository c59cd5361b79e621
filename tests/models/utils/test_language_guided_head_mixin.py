import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmvlm.models.layers import ContrastiveClassifier
from mmvlm.models.utils import LanguageGuidedHeadMixin


class _StockHead(nn.Module):
    """Stands in for a stock anchor head: a conv classifier, class counts."""

    def __init__(self, num_classes: int, in_channels: int = 8) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.cls_out_channels = num_classes
        self.num_base_priors = 3
        self.cls = nn.Conv2d(in_channels, 3 * num_classes, 3, padding=1)

    def forward(self, x):
        out = self.cls(x)
        # stock code reshapes with its class count
        return out.permute(0, 2, 3, 1).reshape(-1, self.cls_out_channels)


class _LanguageGuidedHead(LanguageGuidedHeadMixin, _StockHead):
    classifier_name = 'cls'


def test_mixin_replaces_layer_and_keeps_stock_forward():
    head = _LanguageGuidedHead(num_classes=80, embed_dims=16)
    assert isinstance(head.cls, ContrastiveClassifier)
    assert head.cls.num_anchors == 3 and head.cls.in_channels == 8
    assert head.cls.embed.kernel_size == (3, 3)
    text = F.normalize(torch.randn(5, 16), dim=-1)
    with head.vocabulary(text):
        assert head.num_classes == 5 and head.cls_out_channels == 5
        scores = head(torch.randn(2, 8, 4, 4))
    assert scores.shape == (2 * 4 * 4 * 3, 5)
    # restored after the block
    assert head.num_classes == 80 and head.cls_out_channels == 80
    assert head.closed_set_num_classes == 80


def test_bake_vocabulary_sets_class_count():
    head = _LanguageGuidedHead(num_classes=80, embed_dims=16)
    head.bake_vocabulary(F.normalize(torch.randn(7, 16), dim=-1))
    assert head.num_classes == 7
    assert head(torch.randn(1, 8, 2, 2)).shape == (2 * 2 * 3, 7)


def test_missing_classifier_name_is_explained():

    class _NoName(LanguageGuidedHeadMixin, _StockHead):
        pass

    with pytest.raises(TypeError, match='classifier_name'):
        _NoName(num_classes=3)

    class _WrongLayer(LanguageGuidedHeadMixin, _StockHead):
        classifier_name = 'num_classes'

    with pytest.raises(TypeError, match='nn.Conv2d or nn.Linear'):
        _WrongLayer(num_classes=3)
