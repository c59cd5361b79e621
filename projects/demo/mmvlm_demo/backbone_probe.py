"""Is the demo's backbone really pretrained? A linear probe on its features.

Frozen EfficientNet-Lite0 features (stage 5, stride 16) of the demo's tree
tiles; every 16x16 cell is labelled "crown" when a box centre falls in it.
A logistic regression (the probe) is fitted on the training tiles and
scored on the test tiles (average precision of the cells), once for the
packaged ImageNet weights and once for a random initialisation of the same
network. Pretrained features that are real give a clearly better probe.

Usage (from the repository root, after the demo data exists)::

    python -m projects.demo.mmvlm_demo.backbone_probe --data-root data/demo
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

STRIDE = 16
OUT_INDEX = 5  # stage 5: 112 channels, stride 16


def cell_labels(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """1 for the stride-16 cells holding a box centre, else 0.

    Args:
        boxes (np.ndarray): (N, 4) COCO ``x, y, w, h`` boxes.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: (ceil(h / 16), ceil(w / 16)) uint8 labels.
    """
    labels = np.zeros((-(-height // STRIDE), -(-width // STRIDE)), np.uint8)
    for x, y, w, h in boxes:
        row = min(int((y + h / 2) // STRIDE), labels.shape[0] - 1)
        col = min(int((x + w / 2) // STRIDE), labels.shape[1] - 1)
        labels[row, col] = 1
    return labels


def features_and_labels(backbone: torch.nn.Module, data_root: str,
                        split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cell features and labels of one split of the tree tiles.

    Args:
        backbone (nn.Module): EfficientNetLite with ``out_indices=(5, )``.
        data_root (str): Demo data root (holding ``trees/``).
        split (str): ``'train'`` or ``'test'``.

    Returns:
        tuple[Tensor, Tensor]: (M, 112) features and (M, ) labels.
    """
    from mmvlm.models.backbones.efficientnet_lite import LITE_MEAN, LITE_STD
    root = osp.join(data_root, 'trees')
    with open(osp.join(root, 'annotations', f'{split}.json')) as f:
        coco = json.load(f)
    boxes: Dict[int, list] = {}
    for ann in coco['annotations']:
        boxes.setdefault(ann['image_id'], []).append(ann['bbox'])
    mean, std = torch.tensor(LITE_MEAN), torch.tensor(LITE_STD)
    feats, labels = [], []
    for info in coco['images']:
        rgb = np.asarray(
            Image.open(osp.join(root, 'images', info['file_name']))
            .convert('RGB'), np.float32)
        x = ((torch.from_numpy(rgb) - mean) / std).permute(2, 0, 1)[None]
        with torch.no_grad():
            (feat, ) = backbone(x)
        lab = cell_labels(np.array(boxes.get(info['id'], []), np.float32)
                          .reshape(-1, 4), rgb.shape[0], rgb.shape[1])
        feats.append(feat[0].flatten(1).T)
        labels.append(torch.from_numpy(lab[:feat.shape[2], :feat.shape[3]])
                      .flatten())
    return torch.cat(feats), torch.cat(labels).float()


def probe_average_precision(train: Tuple[torch.Tensor, torch.Tensor],
                            test: Tuple[torch.Tensor, torch.Tensor],
                            steps: int = 300) -> float:
    """Fit a logistic regression on ``train``, return the AP on ``test``.

    Args:
        train (tuple[Tensor, Tensor]): Features (M, C) and 0/1 labels (M, ).
        test (tuple[Tensor, Tensor]): The same for the test cells.
        steps (int): Full-batch L-BFGS-free Adam steps.

    Returns:
        float: Average precision (%) of the test cells.
    """
    x, y = train
    mu, sigma = x.mean(0), x.std(0) + 1e-6
    torch.manual_seed(0)
    probe = torch.nn.Linear(x.shape[1], 1)
    optim = torch.optim.Adam(probe.parameters(), lr=0.01, weight_decay=1e-4)
    pos_weight = (1 - y).sum() / y.sum().clamp(min=1)
    for _ in range(steps):
        optim.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            probe((x - mu) / sigma)[:, 0], y, pos_weight=pos_weight)
        loss.backward()
        optim.step()
    with torch.no_grad():
        scores = probe((test[0] - mu) / sigma)[:, 0]
    order = scores.argsort(descending=True)
    hits = test[1][order]
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum().clamp(min=1) * 100)


def run_probe(data_root: str) -> Dict[str, float]:
    """Probe AP (%) of pretrained and randomly initialised features.

    Args:
        data_root (str): Demo data root.

    Returns:
        dict: ``pretrained``, ``random`` AP and ``positive_rate`` (the AP of
        a probe that guesses).
    """
    from mmvlm.models.backbones import EfficientNetLite
    result = {}
    for name, pretrained in (('pretrained', 'imagenet'), ('random', None)):
        torch.manual_seed(0)
        backbone = EfficientNetLite(out_indices=(OUT_INDEX, ),
                                    pretrained=pretrained)
        backbone.init_weights()
        backbone.eval()
        train = features_and_labels(backbone, data_root, 'train')
        test = features_and_labels(backbone, data_root, 'test')
        result[name] = probe_average_precision(train, test)
    result['positive_rate'] = float(test[1].mean() * 100)
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/demo')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = run_probe(args.data_root)
    print(f"linear probe AP on the test tiles' cells: pretrained "
          f"{result['pretrained']:.1f}, random init {result['random']:.1f}, "
          f"guessing {result['positive_rate']:.1f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
