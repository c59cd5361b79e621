"""Export graphs: the replacements that keep traced sizes dynamic."""
import pytest
import torch
from torch import nn

from mmvlm.deployment.export_graphs import (TraceableAdaptiveAvgPool2d,
                                            TraceableUpsample, make_traceable)


@pytest.mark.parametrize('size', [1, 3, 6, (2, 5)])
def test_traceable_adaptive_pool_equals_torch(size):
    pool = TraceableAdaptiveAvgPool2d(size)
    for shape in [(1, 3, 13, 17), (2, 2, 6, 6), (1, 1, 7, 40)]:
        x = torch.randn(*shape)
        torch.testing.assert_close(pool(x),
                                   nn.AdaptiveAvgPool2d(size)(x),
                                   atol=1e-5,
                                   rtol=1e-5)


def test_make_traceable_swaps_size_freezing_modules():
    from mmseg.models.utils import Upsample
    graph = nn.Sequential(nn.AdaptiveAvgPool2d(3),
                          Upsample(scale_factor=2, mode='bilinear'),
                          nn.AdaptiveAvgPool2d((None, 2)))
    x = torch.randn(1, 2, 9, 11)
    want = graph(x)
    make_traceable(graph)
    assert isinstance(graph[0], TraceableAdaptiveAvgPool2d)
    assert isinstance(graph[1], TraceableUpsample)
    assert type(graph[2]) is nn.AdaptiveAvgPool2d  # None sizes: kept
    torch.testing.assert_close(graph(x), want)
