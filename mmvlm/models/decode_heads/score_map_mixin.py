"""DenseCLIP score maps for language-guided decode heads."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mmvlm.models.layers import MASKED_LOGIT, ContrastiveClassifier


class ScoreMapMixin:
    """Feed pixel-text score maps into a decode head (DenseCLIP).

    The similarities of one input level's pixels with the vocabulary are
    concatenated to that level's features before decoding, and an auxiliary
    loss (``loss_score_map``) is put on them. The number of concatenated
    channels is fixed (``score_map['num_channels']``, default the config's
    ``num_classes``); smaller vocabularies are zero-padded.

    It goes before :class:`LanguageGuidedDecodeHeadMixin`, whose classifier
    embeddings (learned background included) it scores against::

        @SEG_MODELS.register_module()
        class LanguageGuidedFPNHead(ScoreMapMixin,
                                    LanguageGuidedDecodeHeadMixin, FPNHead):
            pass

    Without ``score_map`` the head is the plain language-guided head.

    Args:
        score_map (dict, optional): ``dict(level=-1, loss_weight=0.4,
            num_channels=None)`` to enable score maps: the input level that
            receives them (index into ``in_channels``; ignored by
            single-level heads), the weight of their loss, and the number of
            channels concatenated. None (default) disables them.
        *args, **kwargs: Arguments of the language-guided decode head;
            ``in_channels`` must be given by name.
    """

    def __init__(self,
                 *args,
                 score_map: Optional[dict] = None,
                 **kwargs) -> None:
        score_map = self._parse_score_map(score_map, kwargs)
        if score_map is not None:
            if 'in_channels' not in kwargs:
                raise TypeError('score_map needs in_channels given by name.')
            kwargs['in_channels'] = self._widen_in_channels(
                kwargs['in_channels'], score_map)
        super().__init__(*args, **kwargs)
        self.score_map_cfg = score_map
        self.score_map_classifier: Optional[ContrastiveClassifier] = None
        if score_map is not None:
            self.score_map_classifier = ContrastiveClassifier(
                in_channels=score_map['level_channels'],
                embed_dims=self.embed_dims,
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

    # ---------------------------------------------------------- vocabulary
    def _check_vocabulary_size(self, num_texts: int) -> None:
        """The head's checks, then the bound of the score-map channels."""
        super()._check_vocabulary_size(num_texts)
        if self.score_map_cfg is not None:
            limit = self.score_map_cfg['num_channels']
            if num_texts > limit:
                raise ValueError(
                    f'score_map concatenates {limit} channels but the '
                    f'vocabulary has {num_texts} entries; raise '
                    'score_map.num_channels (DenseCLIP score maps need a '
                    'bounded vocabulary).')

    @contextmanager
    def vocabulary(self,
                   text_embeds: Tensor,
                   text_mask: Optional[Tensor] = None,
                   batch_index: Optional[Tensor] = None) -> Iterator[None]:
        """The head's vocabulary block; score maps use the same entries.

        Args:
            text_embeds (Tensor): ``[K, D]`` or ``[B, K, D]`` embeddings.
            text_mask (Tensor, optional): Bool ``[K]`` / ``[B, K]``.
            batch_index (Tensor, optional): Unused by decode heads.

        Yields:
            None: inside the block the head runs against the vocabulary.
        """
        with super().vocabulary(text_embeds, text_mask, batch_index):
            if self.score_map_classifier is not None:
                self.score_map_classifier.set_text(
                    *self.classifier.class_embeddings())
            try:
                yield
            finally:
                if self.score_map_classifier is not None:
                    self.score_map_classifier.clear_text()
                self._score_map = None

    def bake_vocabulary(self, text_embeds: Tensor) -> None:
        """Fix a ``[K, D]`` vocabulary into the head and its score maps.

        Args:
            text_embeds (Tensor): L2-normalised class embeddings.
        """
        super().bake_vocabulary(text_embeds)
        if self.score_map_classifier is not None:
            embeds, _ = self.classifier.class_embeddings()
            self.score_map_classifier.bake(embeds)

    # ------------------------------------------------------------- forward
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

    # ---------------------------------------------------------------- loss
    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples) -> dict:
        """The head's losses, plus the score-map loss after a forward."""
        losses = super().loss_by_feat(seg_logits, batch_data_samples)
        if self._score_map is not None:
            seg_label = self._stack_batch_gt(batch_data_samples)
            losses['loss_score_map'] = self.score_map_cfg[
                'loss_weight'] * self._score_map_loss(self._score_map,
                                                      seg_label)
        return losses

    def _score_map_loss(self, scores: Tensor, seg_label: Tensor) -> Tensor:
        """Auxiliary (DenseCLIP) loss on the pixel-text score maps.

        Args:
            scores (Tensor): ``[B, K, h, w]`` score-map logits.
            seg_label (Tensor): ``[B, 1, H, W]`` vocabulary indices.

        Returns:
            Tensor: Cross-entropy (sigmoid for binary heads), unweighted.
        """
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
