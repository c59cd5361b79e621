"""Tiny models and images for the web demo's tests (not a test module).

The demo's r18-tiny configs (language-guided ATSS and FPN, and their stock
twins) with a tiny random text model instead of MiniLM are built, their
initial weights saved as checkpoints next to a dump of the config, so the
page loads them exactly as it loads a trained run (config file +
checkpoint file). The weights are untrained: the tests check what the page
does with a model's output, not what a trained model finds.
"""
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np
import torch
from mmengine.config import Config

from mmvlm.deployment import load_model
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg
from projects.web_demo.mmvlm_web_demo.catalog import (DETECTION,
                                                      LANGUAGE_GUIDED,
                                                      SEGMENTATION, STOCK,
                                                      Example, ModelEntry)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIGS = osp.join(ROOT, 'projects', 'demo', 'configs')
TEXT = dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64))
#: key -> (config, overrides, task, kind)
TINY_MODELS: Dict[str, tuple] = {
    'tiny_det_lg': ('lg-atss_r18-tiny_minilm_trees.py', {
        'model.neck.text_encoder': TEXT,
        'model.test_cfg.score_thr': 0.0,
    }, DETECTION, LANGUAGE_GUIDED),
    'tiny_det_stock': ('atss_r18-tiny_trees.py', {
        'model.test_cfg.score_thr': 0.0,
    }, DETECTION, STOCK),
    'tiny_seg_lg': ('lg-fpn_r18-tiny_minilm_brain.py', {
        'model.neck.text_encoder': TEXT,
    }, SEGMENTATION, LANGUAGE_GUIDED),
    'tiny_seg_stock': ('fpn_r18-tiny_brain.py', {}, SEGMENTATION, STOCK),
}
TWINS = {'tiny_det_lg': 'tiny_det_stock', 'tiny_seg_lg': 'tiny_seg_stock'}
SEEN = ('tree', 'background', 'left precentral gyrus')
HELD_OUT = ('dead tree', 'left hippocampus')


def write_image(path: str, height: int = 96, width: int = 128,
                seed: int = 0) -> str:
    """A random-noise PNG with a bright square (a scene to score)."""
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3),
                                                 np.uint8)
    image[height // 4:height // 2, width // 4:width // 2] = (40, 40, 220)
    cv2.imwrite(path, image)
    return path


def make_tiny_models(root: str) -> List[ModelEntry]:
    """Write the tiny models under ``root`` and return their entries.

    Args:
        root (str): Folder for the configs, checkpoints and example image.

    Returns:
        list[ModelEntry]: Two language-guided models (detection,
        segmentation) and their stock twins.
    """
    example = Example(write_image(osp.join(root, 'example.png')),
                      'tree. dead tree', 'tiny untrained model')
    entries = []
    for key, (config, overrides, task, kind) in TINY_MODELS.items():
        cfg = Config.fromfile(osp.join(CONFIGS, config))
        cfg.merge_from_dict(overrides)
        config_file = osp.join(root, f'{key}.py')
        cfg.dump(config_file)
        torch.manual_seed(0)
        model, _ = load_model(config_file)
        checkpoint = osp.join(root, f'{key}.pth')
        meta = getattr(model, 'dataset_meta', None) or {}
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(dataset_meta=dict(meta))), checkpoint)
        entries.append(
            ModelEntry(key=key, task=task, kind=kind, config=config_file,
                       checkpoint=checkpoint, twin=TWINS.get(key),
                       seen=SEEN, held_out=HELD_OUT, examples=[example],
                       default_prompts=example.prompts))
    return entries
