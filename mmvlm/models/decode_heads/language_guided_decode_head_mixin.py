"""The mixin that makes any stock mmseg decode head language-guided."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmvlm.models.layers import (MASKED_LOGIT, ContrastiveClassifier,
                                 LanguageGuidedHeadMixin)


class LanguageGuidedDecodeHeadMixin(LanguageGuidedHeadMixin):
    """Replace ``conv_seg`` of an mmseg decode head by a pixel-text scorer.

    A language-guided decode head is the stock head plus this mixin::

        @SEG_MODELS.register_module()
        class LanguageGuidedFPNHead(LanguageGuidedDecodeHeadMixin, FPNHead):
            pass

    Inside ``with head.vocabulary(text_embeds, text_mask):`` the head
    predicts one logit map per vocabulary entry (``[B, K, H, W]``), with the
    stock ``forward``, ``loss`` and ``predict`` code. Two mmseg conventions
    are kept:

    - softmax heads (``out_channels == num_classes``): ``K`` channels, one
      per vocabulary entry, ``num_classes = out_channels = K``;
    - binary heads (``out_channels=1``, sigmoid loss, ``threshold``): the
      vocabulary is one foreground prompt (``('polyp', )``) or a
      background/foreground pair (``('background', 'polyp')``); the single
      channel is the similarity to the foreground prompt and
      ``num_classes = 2``.

    Options:

    - ``learnable_background``: the vocabulary entry at ``background_index``
      (e.g. the ``'background'`` class of a medical set, whose name says
      nothing about what it looks like) is scored with a learned embedding
      instead of its text embedding. Softmax heads only.
    - ``score_map`` (DenseCLIP): pixel-text similarities of one input level
      are concatenated to that level's features before decoding, and an
      auxiliary loss is put on them. The number of concatenated channels is
      fixed (``score_map['num_channels']``, default the config's
      ``num_classes``); smaller vocabularies are zero-padded.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of
            :class:`ContrastiveClassifier`. Decode heads default to
            ``bias_prior_prob=None`` (zero bias).
        learnable_background (bool): Score the background entry with a
            learned embedding. Default False.
        background_index (int): Vocabulary index of the background entry
            (mmseg's medical sets use 0). Default 0.
        score_map (dict, optional): ``dict(level=-1, loss_weight=0.4,
            num_channels=None)`` to enable DenseCLIP score maps.
        *args, **kwargs: Arguments of the stock decode head.
    """

    classifier_name = 'conv_seg'

    def __init__(self,
                 *args,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 learnable_background: bool = False,
                 background_index: int = 0,
                 score_map: Optional[dict] = None,
                 **kwargs) -> None:
        classifier = dict(classifier or {})
        classifier.setdefault('bias_prior_prob', None)
        score_map = self._parse_score_map(score_map, kwargs)
        if score_map is not None:
            if 'in_channels' not in kwargs:
                raise TypeError('score_map needs in_channels given by name.')
            kwargs['in_channels'] = self._widen_in_channels(
                kwargs['in_channels'], score_map)
        super().__init__(*args,
                         embed_dims=embed_dims,
                         classifier=classifier,
                         **kwargs)
        self.binary = self.out_channels == 1
        if self.binary and learnable_background:
            raise ValueError(
                'learnable_background is for softmax decode heads; a binary '
                'head (out_channels=1) scores only the foreground prompt. '
                'Set out_channels=None or learnable_background=False.')
        self.learnable_background = learnable_background
        self.background_index = background_index
        self.background_embed = nn.Parameter(
            torch.randn(embed_dims) * 0.02) if learnable_background else None
        self.score_map_cfg = score_map
        self.score_map_classifier: Optional[ContrastiveClassifier] = None
        if score_map is not None:
            self.score_map_classifier = ContrastiveClassifier(
                in_channels=score_map['level_channels'],
                embed_dims=embed_dims,
                bias_prior_prob=None)
        self._score_map: Optional[Tensor] = None

    # ------------------------------------------------------------ building
    @staticmethod
    def _parse_score_map(score_map: Optional[dict],
                         kwargs: dict) -> Optional[dict]:
        """Fill the defaults of the score-map option."""
        if score_map is None:
            return None
        cfg = dict(level=-1, loss_weight=0.4, num_channels=None)
        unknown = set(score_map) - set(cfg)
        if unknown:
            raise TypeError(f'Unknown score_map keys {sorted(unknown)}; '
                            f'valid keys are {sorted(cfg)}.')
        cfg.update(score_map)
        if cfg['num_channels'] is None:
            if 'num_classes' not in kwargs:
                raise ValueError('score_map needs num_channels or the '
                                 'head num_classes to size its channels.')
            cfg['num_channels'] = kwargs['num_classes']
        return cfg

    @staticmethod
    def _widen_in_channels(in_channels: Union[int, Sequence[int]],
                           cfg: dict) -> Union[int, List[int]]:
        """Add the score-map channels to the input level that receives them.
        """
        if isinstance(in_channels, int):
            cfg['level_channels'] = in_channels
            cfg['level'] = None
            return in_channels + cfg['num_channels']
        widened = list(in_channels)
        level = cfg['level']
        if not -len(widened) <= level < len(widened):
            raise ValueError(f'score_map level {level} is out of range for '
                             f'{len(widened)} input levels.')
        cfg['level'] = level % len(widened)
        cfg['level_channels'] = widened[cfg['level']]
        widened[cfg['level']] += cfg['num_channels']
        return widened

    def _set_num_classes(self, num_classes: int) -> None:
        """Apply mmseg's softmax / binary class-count conventions."""
        if self.binary:
            self.num_classes = 2
            self.out_channels = 1
        else:
            self.num_classes = num_classes
            self.out_channels = num_classes

    # ---------------------------------------------------------- vocabulary
    def _check_vocabulary_size(self, num_texts: int) -> None:
        if num_texts == 0:
            raise ValueError('The vocabulary is empty: give at least one '
                             'class name or prompt.')
        if self.binary and num_texts > 2:
            raise ValueError(
                f'A binary decode head (out_channels=1) takes one foreground '
                f'prompt or a (background, foreground) pair, got {num_texts} '
                'vocabulary entries. Use a softmax head (out_channels=None) '
                'for several classes, or LanguageGuidedEncoderDecoder.'
                'predict_prompts for one mask per prompt.')
        if not self.binary and num_texts == 1:
            raise ValueError(
                'A softmax decode head needs at least two vocabulary entries '
                '(one class has nothing to compete with), got 1. For one '
                'prompt set out_channels=1 (sigmoid, binary mask) in the '
                'decode head, or add a background entry.')
        if self.score_map_cfg is not None:
            limit = self.score_map_cfg['num_channels']
            if num_texts > limit:
                raise ValueError(
                    f'score_map concatenates {limit} channels but the '
                    f'vocabulary has {num_texts} entries; raise '
                    'score_map.num_channels (DenseCLIP score maps need a '
                    'bounded vocabulary).')

    def _classifier_text(self, text_embeds: Tensor,
                         text_mask: Optional[Tensor]) -> Tuple:
        """The embeddings the pixel classifier scores against."""
        if self.learnable_background:
            index = self.background_index % text_embeds.shape[-2]
            background = F.normalize(self.background_embed, dim=0)
            background = background.to(text_embeds.dtype).expand_as(
                text_embeds[..., index, :])
            text_embeds = text_embeds.clone()
            text_embeds[..., index, :] = background
        if self.binary and text_embeds.shape[-2] == 2:
            foreground = 1 - (self.background_index % 2)
            text_embeds = text_embeds[..., foreground:foreground + 1, :]
            if text_mask is not None:
                text_mask = text_mask[..., foreground:foreground + 1]
        return text_embeds, text_mask

    @contextmanager
    def vocabulary(self,
                   text_embeds: Tensor,
                   text_mask: Optional[Tensor] = None,
                   batch_index: Optional[Tensor] = None) -> Iterator[None]:
        """Run the head against a vocabulary.

        Args:
            text_embeds (Tensor): ``[K, D]`` or ``[B, K, D]`` L2-normalised
                text embeddings; entry ``i`` is label ``i`` of ``gt_sem_seg``.
            text_mask (Tensor, optional): Bool ``[K]`` / ``[B, K]``, False for
                padding entries.
            batch_index (Tensor, optional): Unused by decode heads.

        Yields:
            None: inside the block the head predicts ``K`` maps (one for a
            binary head).
        """
        num_texts = text_embeds.shape[-2]
        self._check_vocabulary_size(num_texts)
        text, mask = self._classifier_text(text_embeds, text_mask)
        with super().vocabulary(text, mask):
            self._set_num_classes(num_texts)
            if self.score_map_classifier is not None:
                self.score_map_classifier.set_text(text, mask)
            try:
                yield
            finally:
                if self.score_map_classifier is not None:
                    self.score_map_classifier.clear_text()
                self._score_map = None

    def bake_vocabulary(self, text_embeds: Tensor) -> None:
        """Fix a ``[K, D]`` vocabulary into the head (LM-free inference).

        Args:
            text_embeds (Tensor): L2-normalised class embeddings.
        """
        self._check_vocabulary_size(text_embeds.shape[0])
        text, _ = self._classifier_text(text_embeds, None)
        self.classifier.bake(text)
        if self.score_map_classifier is not None:
            self.score_map_classifier.bake(text)
        self._set_num_classes(text_embeds.shape[0])

    # ----------------------------------------------------- DenseCLIP maps
    def _transform_inputs(self, inputs):
        """Select the inputs, then append score maps to the chosen level."""
        x = super()._transform_inputs(inputs)
        if self.score_map_classifier is None:
            return x
        level = self.score_map_cfg['level']
        feats = [x] if level is None else list(x)
        index = 0 if level is None else level
        scores = self.score_map_classifier(feats[index])
        self._score_map = scores
        padded = scores.masked_fill(scores <= MASKED_LOGIT, 0.)
        missing = self.score_map_cfg['num_channels'] - padded.shape[1]
        if missing > 0:
            padded = F.pad(padded, (0, 0, 0, 0, 0, missing))
        feats[index] = torch.cat([feats[index], padded], dim=1)
        return feats[0] if level is None else feats

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Stock resize to the input size, in channels-last memory.

        With hundreds of classes the full-resolution logits dominate
        inference; channels-last makes the resize and the per-pixel argmax
        over classes run on contiguous memory (same values).
        """
        seg_logits = seg_logits.contiguous(memory_format=torch.channels_last)
        return super().predict_by_feat(seg_logits, batch_img_metas)

    # ---------------------------------------------------------------- loss
    def _check_labels(self, seg_label: Tensor) -> None:
        """Raise when a gt label has no vocabulary entry."""
        valid = seg_label[seg_label != self.ignore_index]
        if valid.numel() == 0:
            return
        low, high = int(valid.min()), int(valid.max())
        if low < 0 or high >= self.num_classes:
            bad = high if high >= self.num_classes else low
            raise ValueError(
                f'gt_sem_seg holds label id {bad} but the vocabulary has '
                f'{self.num_classes} classes (ids 0..{self.num_classes - 1}, '
                f'ignore_index={self.ignore_index}). Give every labelled '
                'class a vocabulary entry, or map it to ignore_index.')

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples) -> dict:
        """Stock decode loss, a label check, and the score-map loss."""
        seg_label = self._stack_batch_gt(batch_data_samples)
        self._check_labels(seg_label)
        losses = super().loss_by_feat(seg_logits, batch_data_samples)
        if self._score_map is not None:
            losses['loss_score_map'] = self.score_map_cfg[
                'loss_weight'] * self._score_map_loss(self._score_map,
                                                      seg_label)
        return losses

    def _score_map_loss(self, scores: Tensor, seg_label: Tensor) -> Tensor:
        """Auxiliary (DenseCLIP) loss on the pixel-text score maps."""
        scores = F.interpolate(scores,
                               size=seg_label.shape[2:],
                               mode='bilinear',
                               align_corners=self.align_corners)
        label = seg_label.squeeze(1).long()
        if self.binary:
            valid = label != self.ignore_index
            if not valid.any():
                return scores.sum() * 0
            target = (label == 1).to(scores.dtype)
            return F.binary_cross_entropy_with_logits(scores[:, 0][valid],
                                                      target[valid])
        return F.cross_entropy(scores, label, ignore_index=self.ignore_index)
