"""Light text-into-vision fusion: gate every pixel by its best text match."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS
from .one_element_parameters import accept_scalar_checkpoints, one_element


def _check_text(x: Tensor, text_embeds: Tensor, text_mask: Optional[Tensor],
                embed_dims: int, name: str) -> None:
    if text_embeds.dim() != 3 or text_embeds.shape[0] != x.shape[0] or \
            text_embeds.shape[-1] != embed_dims:
        raise ValueError(
            f'{name} takes text_embeds [B={x.shape[0]}, K, {embed_dims}], '
            f'got {tuple(text_embeds.shape)}.')
    if text_mask is not None and text_mask.shape != text_embeds.shape[:2]:
        raise ValueError(f'{name}: text_mask {tuple(text_mask.shape)} does not '
                         f'match text_embeds {tuple(text_embeds.shape)}.')


@MODELS.register_module()
class TextGatedFusion(BaseModule):
    """Per-pixel gating by the maximum similarity to the vocabulary.

    ``out = x + gamma * value(x) * sigmoid(s * max_k <e(x), t_k> + b)``,
    where ``e`` is a 1x1 conv into the text space (normalised), ``t_k`` the
    valid class embeddings, ``s`` a learnable logit scale and ``gamma`` a
    per-channel residual gate initialised to zero, so the output equals the
    input at step 0 (a pretrained closed-set model is unchanged).

    Args:
        in_channels (int): Channels of the visual feature map.
        embed_dims (int): Width of the text embeddings.
        init_logit_scale (float): Initial log similarity scale.
        init_gamma (float): Initial residual gate (0 keeps the input).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 init_logit_scale: float = math.log(10.0),
                 init_gamma: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.pixel_embed = nn.Conv2d(in_channels, embed_dims, 1)
        self.value = nn.Conv2d(in_channels, in_channels, 1)
        self.logit_scale = nn.Parameter(one_element(init_logit_scale))
        self.bias = nn.Parameter(one_element(0.0))
        accept_scalar_checkpoints(self, ('logit_scale', 'bias'))
        self.gamma = nn.Parameter(torch.full((in_channels, ), float(init_gamma)))

    def max_similarity(self, x: Tensor, text_embeds: Tensor,
                       text_mask: Optional[Tensor] = None) -> Tensor:
        """``[B, 1, H, W]`` max over valid classes of the cosine between
        each pixel's embedding and the class embeddings."""
        pixels = F.normalize(self.pixel_embed(x), dim=1)
        text = F.normalize(text_embeds.to(pixels.dtype), dim=-1)
        sim = torch.einsum('bdhw,bkd->bkhw', pixels, text)
        if text_mask is not None:
            sim = sim.masked_fill(~text_mask[:, :, None, None].bool(),
                                  float('-inf'))
        best = sim.max(dim=1, keepdim=True).values
        # An image whose vocabulary is all padding gets no gate signal.
        return torch.nan_to_num(best, neginf=0.0)

    def forward(self,
                x: Tensor,
                text_embeds: Tensor,
                text_mask: Optional[Tensor] = None) -> Tensor:
        """Fuse one level.

        Args:
            x (Tensor): ``[B, C, H, W]`` features.
            text_embeds (Tensor): ``[B, K, D]`` class embeddings.
            text_mask (Tensor, optional): ``[B, K]`` bool validity.

        Returns:
            Tensor: ``[B, C, H, W]`` fused features.
        """
        _check_text(x, text_embeds, text_mask, self.embed_dims,
                    type(self).__name__)
        gate = torch.sigmoid(
            self.logit_scale.exp() * self.max_similarity(x, text_embeds,
                                                         text_mask) + self.bias)
        return x + self.gamma.view(1, -1, 1, 1) * self.value(x) * gate
