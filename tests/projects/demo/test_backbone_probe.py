"""The linear probe of projects/demo/mmvlm_demo/backbone_probe.py."""
import numpy as np
import torch

from projects.demo.mmvlm_demo import backbone_probe


def test_cell_labels_mark_box_centres():
    boxes = np.array([[0, 0, 10, 10], [20, 40, 10, 10], [95, 95, 10, 10]],
                     np.float32)
    labels = backbone_probe.cell_labels(boxes, height=100, width=100)
    assert labels.shape == (7, 7)  # ceil(100 / 16)
    assert {tuple(p) for p in np.argwhere(labels)} == {(0, 0), (2, 1),
                                                       (6, 6)}


def test_probe_ranks_separable_cells_first_and_random_ones_near_chance():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(400, generator=g) < 0.2).float()
    signal = torch.randn(400, 8, generator=g) + y[:, None] * 3
    noise = torch.randn(400, 8, generator=g)
    split = 200
    good = backbone_probe.probe_average_precision(
        (signal[:split], y[:split]), (signal[split:], y[split:]))
    bad = backbone_probe.probe_average_precision(
        (noise[:split], y[:split]), (noise[split:], y[split:]))
    assert good > 95
    assert bad < 50
