"""Learnable scalars are one-element vectors (FSDP refuses 0-d parameters);
checkpoints holding them as 0-d tensors still load."""
import torch

from mmvlm.models.layers import ContrastiveClassifier, TextGatedFusion


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
