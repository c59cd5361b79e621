"""Text-into-vision fusion by cross-attention: pixels attend to classes."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS
from .text_gated_fusion import _check_text


@MODELS.register_module()
class TextCrossAttentionFusion(BaseModule):
    """Every pixel attends to the class embeddings of its image.

    ``out = x + gamma * MHA(LN(x), W t, W t)`` with padded classes masked out
    of the keys and a per-channel residual gate ``gamma`` initialised to
    zero (Flamingo-style), so the output equals the input at step 0.

    Args:
        in_channels (int): Channels of the visual feature map (the attention
            width); must be divisible by ``num_heads``.
        embed_dims (int): Width of the text embeddings.
        num_heads (int): Attention heads. Default 4.
        dropout (float): Attention dropout. Default 0.
        init_gamma (float): Initial residual gate (0 keeps the input).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 num_heads: int = 4,
                 dropout: float = 0.0,
                 init_gamma: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels % num_heads:
            raise ValueError(f'in_channels={in_channels} is not divisible by '
                             f'num_heads={num_heads}; pick a divisor.')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.text_proj = nn.Linear(embed_dims, in_channels)
        self.norm = nn.LayerNorm(in_channels)
        self.attn = nn.MultiheadAttention(
            in_channels, num_heads, dropout=dropout, batch_first=True)
        self.gamma = nn.Parameter(torch.full((in_channels, ), float(init_gamma)))

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
        B, C, H, W = x.shape
        query = self.norm(x.flatten(2).transpose(1, 2))
        keys = self.text_proj(text_embeds.to(query.dtype))
        padding = None
        if text_mask is not None:
            padding = ~text_mask.bool()
            # A fully padded vocabulary would give NaN attention: let such
            # rows attend to their (zero) padding embeddings instead.
            padding = padding & ~padding.all(dim=1, keepdim=True)
        out, _ = self.attn(query, keys, keys, key_padding_mask=padding,
                           need_weights=False)
        out = out.transpose(1, 2).reshape(B, C, H, W)
        return x + self.gamma.view(1, -1, 1, 1) * out
