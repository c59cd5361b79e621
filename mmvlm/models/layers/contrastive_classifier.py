"""Contrastive classifier: a drop-in replacement for a head's class layer."""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS
from .one_element_parameters import accept_scalar_checkpoints, one_element

#: Logit given to padded (invalid) vocabulary slots. Finite on purpose:
#: sigmoid/focal and softmax losses stay finite and have zero gradient there,
#: whereas -inf turns ``0 * -inf`` inside BCE into NaN.
MASKED_LOGIT = -1e4


def prior_prob_to_bias(prior_prob: float) -> float:
    """Logit bias whose sigmoid equals ``prior_prob`` (RetinaNet init).

    Args:
        prior_prob (float): Prior foreground probability in (0, 1).

    Returns:
        float: ``-log((1 - p) / p)``.
    """
    if not 0.0 < prior_prob < 1.0:
        raise ValueError(
            f'bias_prior_prob must be in (0, 1), got {prior_prob}.')
    return float(-math.log((1 - prior_prob) / prior_prob))


def _parse_warm_start(warm_start: Union[bool, dict, None]) -> Optional[dict]:
    """``warm_start`` argument → None (off) or its options dict."""
    if warm_start is None or warm_start is False:
        return None
    if warm_start is True:
        return {}
    if isinstance(warm_start, dict):
        unknown = set(warm_start) - {'classes'}
        if unknown:
            raise ValueError(
                f'Unknown warm_start keys {sorted(unknown)}; warm_start is '
                'True or dict(classes=<the stock model\'s class names>).')
        return dict(warm_start)
    raise TypeError('warm_start must be a bool or dict(classes=...), got '
                    f'{warm_start!r}.')


def _orthogonal_unit(text: Tensor) -> Tensor:
    """A unit ``[D]`` vector orthogonal to every row of ``text`` (zeros
    when the rows span the whole space)."""
    dims = text.shape[1]
    gen = torch.Generator().manual_seed(0)
    vector = torch.randn(dims, generator=gen, dtype=text.dtype).to(text.device)
    basis = torch.linalg.svd(text, full_matrices=False).Vh  # [r, D]
    rank = int((torch.linalg.svdvals(text) > 1e-6).sum())
    basis = basis[:rank]
    vector = vector - basis.t() @ (basis @ vector)
    norm = vector.norm()
    return vector / norm if norm > 1e-6 else torch.zeros_like(vector)


@MODELS.register_module()
class ContrastiveClassifier(BaseModule):
    """Score visual features against class text embeddings.

    It replaces the classification conv (dense heads, decode heads) or linear
    layer (RoI heads) of a stock head and keeps its call signature: it takes
    the same feature tensor and returns logits laid out like the layer it
    replaces, ``[B, A * K, H, W]`` or ``[N, K (+1)]``, where ``K`` is the size
    of the current vocabulary. The vocabulary is set before the head runs with
    :meth:`set_text` (the language-guided head mixin does this), or baked in
    with :meth:`bake` for language-model-free inference.

    ``logit = exp(logit_scale) * <normalize(embed(x)), text> + bias``, with
    padded vocabulary slots set to :data:`MASKED_LOGIT`.

    Args:
        in_channels (int): Channels of the input features.
        embed_dims (int): Width of the text embeddings.
        num_anchors (int): Predictions per location (anchor heads). Default 1.
        kernel_size (int): Kernel of the visual embedding conv. Default 1.
        linear (bool): Take ``[N, C]`` features (RoI heads) instead of maps.
        bias_prior_prob (float, optional): Initialise the shared logit bias so
            that ``sigmoid(bias) = prior``; None for a zero bias.
        init_logit_scale (float): Initial log of the similarity scale
            (``log(1 / 0.07)`` as in CLIP). Default ``log(1 / 0.07)``.
        learnable_logit_scale (bool): Learn the scale. Default True.
        max_logit_scale (float): Upper clamp of ``exp(logit_scale)``.
        normalize_visual (bool): L2-normalise visual embeddings. Default True.
        background (bool): Learn a background embedding, scored in place of
            a text (``background_index``) or as an extra last class.
            Default False.
        background_index (int, optional): With ``background``: the
            vocabulary entry scored with the learned embedding instead of its
            text (e.g. the nameless ``'background'`` class of a medical set;
            negative counts from the end), ``K`` scores. None appends the
            background as the last class instead (softmax RoI heads that
            predict ``K + 1`` scores). Default None.
        num_baked_classes (int): Allocate a baked vocabulary buffer of this
            many classes (used when loading a baked, LM-free checkpoint).
        warm_start (bool | dict): When a stock checkpoint (whose class layer
            this classifier replaces) is loaded into the model, initialise
            the classifier from the stock class layer so that it reproduces
            the stock logits on the stock class names
            (:meth:`init_from_stock_layer`). ``True``, or
            ``dict(classes=...)`` naming the stock model's classes in any
            :meth:`mmvlm.structures.Vocabulary.parse` spelling (e.g.
            ``'CocoDataset'``); without ``classes`` the model's vocabulary
            (configured, else ``dataset_meta['classes']``) is used. See
            ``docs/stock_checkpoints.md``. Default False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 num_anchors: int = 1,
                 kernel_size: int = 1,
                 linear: bool = False,
                 bias_prior_prob: Optional[float] = 0.01,
                 init_logit_scale: float = math.log(1 / 0.07),
                 learnable_logit_scale: bool = True,
                 max_logit_scale: float = 100.0,
                 normalize_visual: bool = True,
                 background: bool = False,
                 background_index: Optional[int] = None,
                 num_baked_classes: int = 0,
                 warm_start: Union[bool, dict] = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if linear and num_anchors != 1:
            raise ValueError(
                'A linear ContrastiveClassifier has one prediction per row, '
                f'got num_anchors={num_anchors}.')
        if background_index is not None and not background:
            raise ValueError(
                f'background_index={background_index} names the entry scored '
                'with the learned background embedding, but background=False. '
                'Set background=True, or background_index=None.')
        self.warm_start = _parse_warm_start(warm_start)
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.num_anchors = num_anchors
        self.linear = linear
        self.normalize_visual = normalize_visual
        self.max_logit_scale = max_logit_scale
        if linear:
            self.embed = nn.Linear(in_channels, embed_dims)
        else:
            self.embed = nn.Conv2d(in_channels,
                                   num_anchors * embed_dims,
                                   kernel_size,
                                   padding=kernel_size // 2)
        scale = one_element(init_logit_scale)
        if learnable_logit_scale:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer('logit_scale', scale)
        bias = 0.0 if bias_prior_prob is None else prior_prob_to_bias(
            bias_prior_prob)
        self.bias = nn.Parameter(one_element(bias))
        accept_scalar_checkpoints(self, ('logit_scale', 'bias'))
        self.background_embed = nn.Parameter(torch.randn(embed_dims) *
                                             0.02) if background else None
        self.background_index = background_index
        self.register_buffer('baked_text',
                             torch.zeros(num_baked_classes, embed_dims))
        self._text: Optional[Tensor] = None
        self._mask: Optional[Tensor] = None
        self._batch_index: Optional[Tensor] = None

    # ------------------------------------------------------------ vocabulary
    @property
    def is_baked(self) -> bool:
        """Whether a fixed vocabulary is baked in (no text needed)."""
        return self.baked_text.shape[0] > 0

    @property
    def num_text(self) -> int:
        """Size ``K`` of the current vocabulary (padded slots included)."""
        if self._text is not None:
            return self._text.shape[-2]
        return self.baked_text.shape[0]

    def set_text(self,
                 text_embeds: Tensor,
                 text_mask: Optional[Tensor] = None,
                 batch_index: Optional[Tensor] = None) -> None:
        """Set the vocabulary the next forward passes score against.

        Args:
            text_embeds (Tensor): ``[K, D]`` shared by the batch, or
                ``[B, K, D]`` per image. Expected L2-normalised.
            text_mask (Tensor, optional): Bool ``[K]`` or ``[B, K]``; False
                marks padded slots. None means all valid.
            batch_index (Tensor, optional): For linear classifiers with
                per-image vocabularies: image index of each input row.
        """
        if text_embeds.dim() not in (2, 3):
            raise ValueError('text_embeds must be [K, D] or [B, K, D], got '
                             f'shape {tuple(text_embeds.shape)}.')
        if text_embeds.shape[-1] != self.embed_dims:
            raise ValueError(
                f'text embedding width {text_embeds.shape[-1]} differs from '
                f'the classifier embed_dims={self.embed_dims}; set the neck '
                'projection (embed_dims) and the head embed_dims to the same '
                'value.')
        if text_embeds.shape[-2] == 0:
            raise ValueError('The vocabulary is empty: give at least one '
                             'class name or prompt.')
        if text_mask is not None and text_mask.shape != text_embeds.shape[:-1]:
            raise ValueError(
                f'text_mask shape {tuple(text_mask.shape)} does not match '
                f'text_embeds {tuple(text_embeds.shape)}.')
        self._text = text_embeds
        self._mask = text_mask
        self._batch_index = batch_index

    def set_batch_index(self, batch_index: Optional[Tensor]) -> None:
        """Set the image index of each row for linear classifiers."""
        self._batch_index = batch_index

    def clear_text(self) -> None:
        """Forget the vocabulary set by :meth:`set_text`."""
        self._text = self._mask = self._batch_index = None

    @torch.no_grad()
    def bake(self, text_embeds: Tensor) -> None:
        """Store a fixed ``[K, D]`` vocabulary for LM-free inference.

        Args:
            text_embeds (Tensor): L2-normalised class embeddings ``[K, D]``.
        """
        if text_embeds.dim() != 2 or text_embeds.shape[1] != self.embed_dims:
            raise ValueError(
                f'bake() takes [K, {self.embed_dims}] embeddings, got '
                f'{tuple(text_embeds.shape)}.')
        self.baked_text = text_embeds.detach().clone().to(
            self.baked_text.device)

    def _current_text(self) -> tuple:
        if self._text is not None:
            return self._text, self._mask
        if self.is_baked:
            return self.baked_text, None
        raise RuntimeError(
            'ContrastiveClassifier has no vocabulary: the language-guided '
            'detector/segmentor sets it before running the head. Call the '
            'head inside `head.vocabulary(text_embeds, mask)`, or bake a '
            'vocabulary into it (`head.bake_vocabulary(text_embeds)`, or '
            'the bake_vocabulary model converter for a whole detector).')

    # ------------------------------------------------------------ warm start
    @torch.no_grad()
    def init_from_stock_layer(self, weight: Tensor, bias: Optional[Tensor],
                              class_embeds: Tensor) -> None:
        """Initialise the classifier from the stock class layer it replaced.

        The visual projection (``embed``), the scalar ``bias`` and the
        similarity scale are set so that, scored against ``class_embeds``,
        the classifier gives the stock layer's logits: for every anchor
        ``a`` and class ``k``, ``scale * <embed(x)_a, t_k> + bias =
        w_{a,k} * x + c_{a,k}``. With ``P = pinv(T)`` (``T =
        class_embeds``, ``[K, D]``) the projection is ``W_a = P W_stock_a``
        with bias ``P (c_a - bias)``, the shared ``bias`` is the mean stock
        bias, and the projection keeps the stock weights' size (so the
        first fine-tuning steps move it as they would move the stock
        layer).

        With ``normalize_visual=False`` the scale is set to 1 and this is
        exact whenever ``K <= D`` and the embeddings are linearly
        independent.

        With ``normalize_visual=True`` (the default) exact equality is
        impossible (the norm of an affine map of the features varies with
        the features). The projection bias gets an offset ``scale * u``,
        ``u`` a unit vector orthogonal to every class embedding (it changes
        no dot product), and the scale is set to ``max_logit_scale``; the
        logits become ``bias + z / sqrt(1 + |P z|^2 / scale^2)`` with ``z``
        the stock logit minus ``bias``: every logit of a location shrinks
        towards ``bias`` by one factor (same arg-max; for one class, the
        same order). ``docs/stock_checkpoints.md`` gives the measured error
        and the effect of the large scale on fine-tuning.

        Args:
            weight (Tensor): Stock weight ``[A * K, C, kh, kw]`` (conv) or
                ``[K, C]`` (linear); row ``a * K + k`` is anchor ``a``,
                class ``k`` (mmdet / mmseg layout).
            bias (Tensor, optional): Stock bias ``[A * K]``.
            class_embeds (Tensor): ``[K, D]`` embeddings the logits are
                scored against, in stock class order (with a learned
                background where the classifier has one, see
                :meth:`class_embeddings`).
        """
        num_classes, dims = class_embeds.shape
        anchors = self.num_anchors
        own = self.embed.weight
        if dims != self.embed_dims:
            raise ValueError(f'class_embeds have width {dims}, the '
                             f'classifier embed_dims={self.embed_dims}.')
        if weight.shape[0] != anchors * num_classes:
            raise ValueError(
                f'The stock class layer has {weight.shape[0]} outputs but '
                f'{num_classes} class names x {anchors} anchors were given: '
                'give the stock model\'s class names, in its class order '
                '(classifier warm_start=dict(classes=...)).')
        if weight.shape[1:] != own.shape[1:]:
            raise ValueError(
                f'The stock class layer weight {tuple(weight.shape)} does '
                f'not match the visual projection {tuple(own.shape)} beyond '
                'the output channels; warm start needs the stock kernel: '
                f'set classifier.kernel_size={weight.shape[-1]} '
                '(or drop it) in the head config.')
        stock_w = weight.detach().double().reshape(anchors, num_classes, -1)
        if bias is None:
            stock_b = stock_w.new_zeros(anchors, num_classes)
        else:
            stock_b = bias.detach().double().reshape(anchors, num_classes)
        if self.normalize_visual:
            self.logit_scale.fill_(math.log(self.max_logit_scale))
        else:  # the projection carries the scale: stock-sized weights
            self.logit_scale.fill_(0.0)
        shared_bias = float(stock_b.mean())
        self.bias.fill_(shared_bias)
        text = class_embeds.detach().double().to(stock_w.device)
        pinv = torch.linalg.pinv(text)  # [D, K]
        proj_w = torch.einsum('dk,akc->adc', pinv, stock_w)
        proj_b = torch.einsum('dk,ak->ad', pinv, stock_b - shared_bias)
        if self.normalize_visual:
            # |v| ~ scale: stock-sized weights and gradients
            proj_b = proj_b + float(self.scale) * _orthogonal_unit(text)
        self.embed.weight.copy_(proj_w.reshape(own.shape))
        if self.embed.bias is not None:
            self.embed.bias.copy_(proj_b.reshape(-1))

    # --------------------------------------------------------------- forward
    @property
    def scale(self) -> Tensor:
        """The similarity scale ``exp(logit_scale)``, clamped."""
        return self.logit_scale.exp().clamp(max=self.max_logit_scale)

    def class_embeddings(self) -> Tuple[Tensor, Optional[Tensor]]:
        """The embeddings the logits are computed against.

        Returns:
            tuple: ``(embeds, mask)``: the current (or baked) vocabulary,
            ``[K', D]`` or ``[B, K', D]``, with the learned background in
            place (``K' = K``) or appended (``K' = K + 1``), and its bool
            mask (``[K']`` / ``[B, K']``) or None.
        """
        return self._with_background(*self._current_text())

    def _with_background(self, text: Tensor, mask: Optional[Tensor]) -> tuple:
        if self.background_embed is None:
            return text, mask
        bg = F.normalize(self.background_embed, dim=0).to(text.dtype)
        if self.background_index is not None:
            index = self.background_index % text.shape[-2]
            text = text.clone()
            text[..., index, :] = bg.expand_as(text[..., index, :])
            return text, mask
        bg = bg.expand(*text.shape[:-2], 1, text.shape[-1])
        text = torch.cat([text, bg], dim=-2)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(*mask.shape[:-1], 1)], -1)
        return text, mask

    def forward(self, x: Tensor) -> Tensor:
        """Compute class logits.

        Args:
            x (Tensor): ``[B, C, H, W]`` maps, or ``[N, C]`` rows if linear.

        Returns:
            Tensor: ``[B, A * K', H, W]`` or ``[N, K']`` logits, ``K' = K``
            (+1 with an appended background embedding, placed last).
        """
        text, mask = self.class_embeddings()
        text = text.to(x.dtype)
        visual = self.embed(x)
        if self.linear:
            logits = self._linear_logits(visual, text, mask)
        else:
            logits = self._dense_logits(visual, text, mask)
        return logits

    def _normalize(self, visual: Tensor, dim: int) -> Tensor:
        if not self.normalize_visual:
            return visual
        return F.normalize(visual, dim=dim)

    def _dense_logits(self, visual: Tensor, text: Tensor,
                      mask: Optional[Tensor]) -> Tensor:
        B, _, H, W = visual.shape
        A, D = self.num_anchors, self.embed_dims
        visual = self._normalize(visual.view(B, A, D, H, W), dim=2)
        if text.dim() == 3 and text.shape[0] != B:
            raise ValueError(f'{text.shape[0]} per-image vocabularies for '
                             f'a batch of {B} images.')
        # The scale is folded into the (small) text side and the bias added
        # by the same batched product: one [B*A, K, H*W] tensor is made,
        # not three (the cost of a large vocabulary at full resolution).
        text = text * self.scale
        K = text.shape[-2]
        if text.dim() == 2:
            text = text.expand(B * A, K, D)
        else:
            text = text.unsqueeze(1).expand(B, A, K, D).reshape(B * A, K, D)
        logits = torch.baddbmm(
            self.bias.to(visual.dtype).view(1, 1, 1), text.to(visual.dtype),
            visual.reshape(B * A, D, H * W)).view(B, A, K, H, W)
        if mask is not None:
            mask = mask.view(-1, 1, mask.shape[-1], 1, 1)
            logits = logits.masked_fill(~mask, MASKED_LOGIT)
        return logits.reshape(B, A * K, H, W)

    def _linear_logits(self, visual: Tensor, text: Tensor,
                       mask: Optional[Tensor]) -> Tensor:
        visual = self._normalize(visual, dim=-1)
        if text.dim() == 3 and text.shape[0] == 1:
            text = text[0]
            mask = mask[0] if mask is not None else None
        if text.dim() == 2:
            logits = visual @ text.t()
            if mask is not None:
                mask = mask.unsqueeze(0)
        else:
            if self._batch_index is None:
                raise RuntimeError(
                    'Per-image vocabularies on a linear (RoI) classifier need '
                    'the image index of every RoI: call '
                    'set_batch_index(rois[:, 0]).')
            index = self._batch_index.long()
            logits = torch.einsum('nd,nkd->nk', visual, text[index])
            if mask is not None:
                mask = mask[index]
        logits = logits * self.scale + self.bias
        if mask is not None:
            logits = logits.masked_fill(~mask, MASKED_LOGIT)
        return logits
