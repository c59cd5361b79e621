"""Learnable scalars are one-element vectors (FSDP refuses 0-d parameters);
checkpoints holding them as 0-d tensors still load; no registered mmvlm
module has a 0-d parameter."""
import importlib
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import nn

from mmvlm.models.layers import ContrastiveClassifier, TextGatedFusion
from mmvlm.registry import codebase_available
from mmvlm.testing import tiny_text_encoder_cfg


def test_no_zero_dim_parameters():
    for module in (ContrastiveClassifier(8, 4), TextGatedFusion(8, 4)):
        shapes = {n: tuple(p.shape) for n, p in module.named_parameters()}
        assert all(len(s) > 0 for s in shapes.values()), shapes
        assert shapes['logit_scale'] == (1, ) and shapes['bias'] == (1, )


def test_zero_dim_checkpoint_entries_load():
    for cls in (ContrastiveClassifier, TextGatedFusion):
        old = cls(8, 4).state_dict()
        old['logit_scale'] = torch.tensor(1.5)
        old['bias'] = torch.tensor(-2.0)
        module = cls(8, 4)
        module.load_state_dict(old)  # strict
        assert module.logit_scale.tolist() == [1.5]
        assert module.bias.tolist() == [-2.0]


# ---------------------------------------------------------------------------
# Every registered mmvlm model module: no 0-d parameter (the FSDP rule).
# ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[3]
#: Shipped configs whose models are built (text encoders swapped for tiny
#: random ones); a config is built only when it adds an mmvlm type.
SHIPPED_CONFIGS = sorted(
    p for d in ('configs/detection', 'configs/segmentation',
                'projects/demo/configs') for p in (ROOT / d).rglob('*.py')
    if '_base_' not in p.parts
    # image-level configs need mmpretrain (its own environment; the
    # classifiers' modules are built by tests/models/classifiers there)
    and 'image_level' not in p.parts)
#: Registered types no shipped config uses, built from these small configs:
#: ``(scope, config)``.
EXTRA_CFGS = [
    ('mmdet',
     dict(type='LLMPrefixNeck',
          text_encoder=tiny_text_encoder_cfg('gpt2', embed_dims=16),
          fusion=dict(type='TextCrossAttentionFusion', in_channels=8),
          visual_prefix=dict(num_visual_tokens=2, in_channels=8,
                             mode='per_image'))),
    ('mmdet',
     dict(type='LLMPrefixNeck',
          text_encoder=tiny_text_encoder_cfg('bert', embed_dims=16),
          fusion=dict(type='TextGatedFusion', in_channels=8),
          visual_prefix=dict(num_visual_tokens=2, in_channels=8))),
    ('mmseg',
     dict(type='LanguageGuidedSegformerHead', in_channels=[8, 8, 8, 8],
          in_index=[0, 1, 2, 3], channels=8, num_classes=3, embed_dims=16)),
]
#: Registered mmvlm model types this test does not build, with why.
NOT_BUILT = {}


def _mmvlm_model_types() -> Dict[str, str]:
    """Registered mmvlm model class name -> a codebase that has it."""
    found = {}
    for scope in ('mmdet', 'mmseg', 'mmpretrain'):
        if not codebase_available(scope):
            continue
        registry = importlib.import_module(f'{scope}.registry').MODELS
        for name, cls in registry.module_dict.items():
            if cls.__module__.startswith('mmvlm.'):
                found.setdefault(name, scope)
    return found


def _tiny_text_encoders(node):
    """Replace every HFTextEncoder config with a tiny random one of the
    same width (decoder-only where the original is)."""
    if isinstance(node, dict):
        if node.get('type') == 'HFTextEncoder':
            name = str(node.get('name_or_path', ''))
            arch = 'gpt2' if 'smollm' in name.lower() else 'bert'
            keep = {k: node[k] for k in ('freeze_lm', 'prefix_length')
                    if k in node}
            return tiny_text_encoder_cfg(arch, embed_dims=node.get(
                'embed_dims', 32), **keep)
        return {k: _tiny_text_encoders(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_tiny_text_encoders(v) for v in node)
    return node


def _types_in(node) -> set:
    if isinstance(node, dict):
        found = {node['type']} if isinstance(node.get('type'), str) else set()
        for value in node.values():
            found |= _types_in(value)
        return found
    if isinstance(node, (list, tuple)):
        return set().union(*map(_types_in, node)) if node else set()
    return set()


def _build(scope: str, cfg: dict) -> nn.Module:
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(ConfigDict(cfg))


def test_no_registered_mmvlm_module_has_a_zero_dim_parameter():
    """FSDP (mmengine's FSDPStrategy) refuses 0-d parameters: every module
    mmvlm registers, built from the shipped configs or a small config,
    holds none of its own. Parameters of stock sub-modules are not mmvlm's
    to change (mmcv's ``Scale`` of the stock ATSS / FCOS heads is 0-d,
    docs/reliability.md); every module whose class mmvlm defines is checked,
    registered or not."""
    pytest.importorskip('mmdet')
    pytest.importorskip('mmseg')
    registered = _mmvlm_model_types()
    covered: set = set()
    jobs = []
    for path in SHIPPED_CONFIGS:
        cfg = Config.fromfile(str(path))
        model = cfg.model.to_dict()
        if (_types_in(model) & set(registered)) - covered:
            jobs.append((cfg.default_scope, _tiny_text_encoders(model)))
            covered |= _types_in(model)
    built, zero_dim = set(), []
    for scope, cfg in jobs + EXTRA_CFGS:
        torch.manual_seed(0)
        for name, module in _build(scope, cfg).named_modules():
            cls = type(module)
            built.add(cls.__name__)
            if cls.__module__.startswith('mmvlm.'):
                zero_dim += [
                    f'{cls.__name__} {name}.{p}'.replace(' .', ' ')
                    for p, value in module.named_parameters(recurse=False)
                    if value.dim() == 0
                ]
    missing = set(registered) - built - set(NOT_BUILT)
    assert not missing, (
        f'registered mmvlm types this test never built: {sorted(missing)}; '
        'add a small config to EXTRA_CFGS (or a reason to NOT_BUILT)')
    assert not zero_dim, (
        f'0-d parameters (FSDP refuses them): {sorted(set(zero_dim))}; store '
        'learnable scalars with one_element() and '
        'accept_scalar_checkpoints().')
