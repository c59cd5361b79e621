"""The modules traced into ONNX: raw head outputs, no post-processing.

Each graph is a thin ``nn.Module`` around parts of a built model, so the
exported computation is exactly the model's own (backbone, visual neck,
head); decoding, NMS and the segmentation resize to the original image run
in :mod:`mmvlm.deployment.runtime` (numpy).
"""
from typing import Any, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmvlm.models.text_encoders.lm_forward import pooled_lm_features


class BackboneNeckHeadGraph(nn.Module):
    """Base of the traced visual graphs: backbone -> visual neck -> head.

    Subclasses turn the head's raw output into the graph's outputs in
    ``forward``.

    Args:
        backbone (nn.Module): The model's backbone.
        neck (nn.Module, optional): The visual neck (e.g. FPN).
        head (nn.Module): The model's head, baked or language-guided.
        text_input (bool): Score against ``text_embeds`` given as a second
            input (``[K, D]``, L2-normalised) instead of a baked vocabulary.
    """

    def __init__(self,
                 backbone: nn.Module,
                 neck: Optional[nn.Module],
                 head: nn.Module,
                 text_input: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.text_input = text_input

    def head_outputs(self,
                     inputs: Tensor,
                     text_embeds: Optional[Tensor] = None) -> Any:
        """The head's raw output on the neck's features of ``inputs``.

        In text mode the head's classifier scores against ``text_embeds``
        for this call only.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` normalised, padded images.
            text_embeds (Tensor, optional): ``[K, D]`` (text mode).

        Returns:
            Whatever the head's ``forward`` returns.
        """
        if self.text_input:
            self.head.classifier.set_text(text_embeds)
        try:
            feats = self.backbone(inputs)
            if self.neck is not None:
                feats = self.neck(feats)
            return self.head(feats)
        finally:
            if self.text_input:
                self.head.classifier.clear_text()


class DenseDetectorGraph(BackboneNeckHeadGraph):
    """Backbone -> visual neck -> dense head, raw multi-level outputs.

    Args:
        backbone (nn.Module): The detector's backbone.
        neck (nn.Module, optional): The visual neck (e.g. FPN).
        head (nn.Module): A dense head (ATSS, RetinaNet, FCOS, ...), baked
            or language-guided.
        text_input (bool): Score against ``text_embeds`` given as a second
            input (``[K, D]``, L2-normalised) instead of a baked vocabulary.
    """

    def forward(self,
                inputs: Tensor,
                text_embeds: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """Raw head outputs.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` normalised, padded images.
            text_embeds (Tensor, optional): ``[K, D]`` (text mode).

        Returns:
            tuple[Tensor]: Per output kind (class scores, box regression,
            score factor when the head has one), per level
            ``[B, C, H_l, W_l]``.
        """
        outs = self.head_outputs(inputs, text_embeds)
        return tuple(t for group in outs for t in group)


class TraceableUpsample(nn.Module):
    """mmseg's ``Upsample`` with the output size computed in the graph.

    mmseg's module computes ``int(size * scale_factor)`` in Python, which
    the tracer freezes to the traced image size. This one asks
    ``F.interpolate`` for the same size (``floor``) and the same sampling
    (``recompute_scale_factor=True`` samples as for an explicit size).

    Args:
        scale_factor (float | tuple): Scale of the last two axes.
        mode (str): Interpolation mode.
        align_corners (bool, optional): As ``F.interpolate``.
    """

    def __init__(self, scale_factor, mode: str,
                 align_corners: Optional[bool]) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: Tensor) -> Tensor:
        """Upsampled ``x``."""
        return F.interpolate(x,
                             scale_factor=self.scale_factor,
                             mode=self.mode,
                             align_corners=self.align_corners,
                             recompute_scale_factor=True)


def _adaptive_mean(x: Tensor, size: int, dim: int) -> Tensor:
    """1-d adaptive average pooling of ``x`` along ``dim`` to ``size`` bins
    (torch's bins: ``[floor(i n / s), ceil((i + 1) n / s))``), from a
    cumulative sum, so the bin edges follow the traced input size."""
    length = torch._shape_as_tensor(x)[dim]
    index = torch.arange(size, device=x.device)
    start = torch.div(index * length, size, rounding_mode='floor')
    end = torch.div((index + 1) * length + size - 1,
                    size,
                    rounding_mode='floor')
    zeros = torch.zeros_like(x.narrow(dim, 0, 1))
    cumsum = torch.cat([zeros, torch.cumsum(x, dim)], dim)
    sums = cumsum.index_select(dim, end) - cumsum.index_select(dim, start)
    shape = [1] * x.dim()
    shape[dim] = size
    return sums / (end - start).to(x.dtype).view(shape)


class TraceableAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` that the TorchScript exporter can export
    with a dynamic input size (its ONNX symbolic needs a static one);
    output size 1 is a plain mean.

    Args:
        output_size (int | tuple[int, int]): Output ``(h, w)``.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(output_size)

    def forward(self, x: Tensor) -> Tensor:
        """Pooled ``x``: ``[B, C, h, w]``."""
        height, width = self.output_size
        if (height, width) == (1, 1):
            return x.mean(dim=(2, 3), keepdim=True)
        return _adaptive_mean(_adaptive_mean(x, height, 2), width, 3)


def make_traceable(graph: nn.Module) -> nn.Module:
    """Replace modules that freeze input sizes when traced (in place):
    mmseg's ``Upsample`` and ``nn.AdaptiveAvgPool2d`` (UPerNet's PPM).

    Args:
        graph (nn.Module): A graph of this module (usually a deep copy).

    Returns:
        nn.Module: The same graph.
    """
    try:
        from mmseg.models.utils import Upsample
    except ImportError:  # mmseg not installed: nothing of it to replace
        Upsample = ()
    for parent in list(graph.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d) and None not in (
                    child.output_size if isinstance(
                        child.output_size, tuple) else (child.output_size, )):
                setattr(parent, name,
                        TraceableAdaptiveAvgPool2d(child.output_size))
            elif isinstance(child, Upsample) and not child.size:
                setattr(
                    parent, name,
                    TraceableUpsample(child.scale_factor, child.mode,
                                      child.align_corners))
    return graph


def dense_output_names(num_groups: int, num_levels: int) -> List[str]:
    """ONNX output names of :class:`DenseDetectorGraph`.

    Args:
        num_groups (int): 2 (scores, boxes) or 3 (+ score factor).
        num_levels (int): Feature levels.

    Returns:
        list[str]: ``cls_score_<l>``, ``bbox_pred_<l>``,
        ``score_factor_<l>``.
    """
    kinds = ('cls_score', 'bbox_pred', 'score_factor')[:num_groups]
    return [f'{k}_{level}' for k in kinds for level in range(num_levels)]


class SegmentorGraph(BackboneNeckHeadGraph):
    """Backbone -> visual neck -> decode head -> logits at the input size.

    The resize to the input (padded) size is mmseg's
    ``BaseDecodeHead.predict_by_feat``; removing the padding, resizing to
    the original image and the arg-max run in numpy.

    Args:
        backbone (nn.Module): The segmentor's backbone.
        neck (nn.Module, optional): The visual neck.
        head (nn.Module): The decode head (baked or language-guided).
        text_input (bool): Take ``text_embeds`` as a second input.
    """

    def forward(self,
                inputs: Tensor,
                text_embeds: Optional[Tensor] = None) -> Tensor:
        """``[B, K, H, W]`` logits at the input size."""
        logits = self.head_outputs(inputs, text_embeds)
        return F.interpolate(logits,
                             size=inputs.shape[2:],
                             mode='bilinear',
                             align_corners=self.head.align_corners)


class TextEncoderGraph(nn.Module):
    """Token ids -> LM (with the learned prefix) -> pooled -> projected.

    Sequences are the tokenizer's ids (special tokens included),
    right-padded; the learned prefix is inserted after the head token
    (CLS / BOS) as ``HFTextEncoder`` does, with position ids counting valid
    tokens only.

    Args:
        encoder (nn.Module): A built ``HFTextEncoder``.
        head_length (int): 1 when every sequence starts with CLS / BOS.
    """

    def __init__(self, encoder: nn.Module, head_length: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head_length = head_length

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """``[N, D]`` L2-normalised prompt embeddings.

        Args:
            input_ids (Tensor): ``[N, L]`` int64 token ids.
            attention_mask (Tensor): ``[N, L]`` int64, 1 on tokens.
        """
        enc = self.encoder
        num = input_ids.shape[0]
        prefix = enc.prefix
        if prefix is None and not enc.supports_input_embeds:
            inputs = dict(input_ids=input_ids)
            mask = attention_mask
        else:
            tokens = enc.lm.get_input_embeddings()(input_ids)
            mask = attention_mask
            if prefix is not None:
                head = self.head_length
                rows = prefix.unsqueeze(0).expand(num, -1, -1).to(tokens.dtype)
                ones = torch.ones(num,
                                  prefix.shape[0],
                                  dtype=mask.dtype,
                                  device=mask.device)
                tokens = torch.cat([tokens[:, :head], rows, tokens[:, head:]],
                                   dim=1)
                mask = torch.cat([mask[:, :head], ones, mask[:, head:]], dim=1)
            inputs = dict(inputs_embeds=tokens)
        feats = pooled_lm_features(enc.lm, inputs, mask, enc.pooling,
                                   enc._lm_kwargs, None)
        return F.normalize(enc.projection(feats), dim=-1)
