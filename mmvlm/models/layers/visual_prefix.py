"""Visual tokens for a frozen language model (a "Frozen"-style prefix)."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS


@MODELS.register_module()
class VisualPrefixProjector(BaseModule):
    """Attention-pool a feature map into visual tokens in LM input space.

    ``num_visual_tokens`` learnable queries attend over the pixels of one
    feature level; the pooled tokens are normalised and projected into the
    language model's input-embedding space, where the text encoder prepends
    them to prompts.

    Args:
        in_channels (int): Channels of the pooled feature level; must be
            divisible by ``num_heads``.
        lm_dims (int): Input-embedding width of the language model.
        num_visual_tokens (int): Visual tokens per image. Default 4.
        num_heads (int): Heads of the attention pooling. Default 1.
        init_std (float): Target standard deviation of the projected tokens
            at init (the LM's token-embedding std fits). Default 0.02.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 lm_dims: int,
                 num_visual_tokens: int = 4,
                 num_heads: int = 1,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_visual_tokens < 1:
            raise ValueError('num_visual_tokens must be >= 1, got '
                             f'{num_visual_tokens}.')
        if in_channels % num_heads:
            raise ValueError(f'in_channels={in_channels} is not divisible by '
                             f'num_heads={num_heads}.')
        self.in_channels = in_channels
        self.lm_dims = lm_dims
        self.num_visual_tokens = num_visual_tokens
        self.queries = nn.Parameter(
            torch.randn(num_visual_tokens, in_channels) * in_channels**-0.5)
        self.attn = nn.MultiheadAttention(in_channels, num_heads,
                                          batch_first=True)
        self.norm = nn.LayerNorm(in_channels)
        self.proj = nn.Linear(in_channels, lm_dims)
        # LayerNorm output has unit variance per channel, so this weight std
        # gives tokens of std ~init_std, the scale of the LM's own tokens.
        nn.init.normal_(self.proj.weight, std=init_std * in_channels**-0.5)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Pool ``[B, C, H, W]`` into ``[B, num_visual_tokens, lm_dims]``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'VisualPrefixProjector expects [B, {self.in_channels}, H, W] '
                f'features, got {tuple(x.shape)}; set visual_prefix '
                'in_channels / level to the pooled level.')
        pixels = x.flatten(2).transpose(1, 2)
        queries = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        pooled, _ = self.attn(queries.to(pixels.dtype), pixels, pixels,
                              need_weights=False)
        return self.proj(self.norm(pooled))
