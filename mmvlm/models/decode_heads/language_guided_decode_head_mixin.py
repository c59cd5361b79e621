"""The mixin that makes any stock mmseg decode head language-guided."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch
from torch import Tensor

from mmvlm.models.utils import LanguageGuidedHeadMixin


class LanguageGuidedDecodeHeadMixin(LanguageGuidedHeadMixin):
    """Replace ``conv_seg`` of an mmseg decode head by a pixel-text scorer.

    A language-guided decode head is the stock head plus this mixin::

        @SEG_MODELS.register_module()
        class LanguageGuidedFPNHead(LanguageGuidedDecodeHeadMixin, FPNHead):
            pass

    Inside ``with head.vocabulary(text_embeds, text_mask):`` the head
    predicts one logit map per vocabulary entry (``[B, K, H, W]``), with the
    stock ``forward``, ``loss`` and ``predict`` code. The mixin keeps mmseg's
    class-count conventions:

    - softmax heads (``out_channels == num_classes``): ``K`` channels, one
      per vocabulary entry, ``num_classes = out_channels = K``;
    - binary heads (``out_channels=1``, sigmoid loss, ``threshold``): the
      vocabulary is one foreground prompt (``('polyp', )``) or a
      background/foreground pair (``('background', 'polyp')``); the single
      channel is the similarity to the foreground prompt and
      ``num_classes = 2``.

    ``learnable_background`` scores the vocabulary entry at
    ``background_index`` (e.g. the ``'background'`` class of a medical set,
    whose name says nothing about what it looks like) with a learned
    embedding instead of its text: the background of
    :class:`ContrastiveClassifier` (``background=True``), placed at that
    index. Softmax heads only.

    Args:
        embed_dims (int): Width of the text embeddings. Default 256.
        classifier (dict, optional): Extra arguments of
            :class:`ContrastiveClassifier`. Decode heads default to
            ``bias_prior_prob=None`` (zero bias).
        learnable_background (bool): Score the background entry with a
            learned embedding. Default False.
        background_index (int): Vocabulary index of the background entry
            (mmseg's medical sets use 0); for a binary head with a
            background/foreground pair, the entry that is not scored.
            Default 0.
        *args, **kwargs: Arguments of the stock decode head.
    """

    classifier_name = 'conv_seg'

    def __init__(self,
                 *args,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 learnable_background: bool = False,
                 background_index: int = 0,
                 **kwargs) -> None:
        classifier = dict(classifier or {})
        classifier.setdefault('bias_prior_prob', None)
        for key in ('background', 'background_index'):
            if key in classifier:
                raise TypeError(
                    f'Set the background of a decode head with its own '
                    f'learnable_background / background_index arguments, not '
                    f'classifier.{key}={classifier[key]!r}.')
        if learnable_background:
            classifier.update(background=True,
                              background_index=background_index)
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
        self.background_index = background_index

    # ---------------------------------------------------------- background
    @property
    def learnable_background(self) -> bool:
        """Whether the background entry is scored with a learned embedding.
        """
        return self.classifier.background_embed is not None

    @property
    def background_embed(self) -> Optional[torch.nn.Parameter]:
        """The learned background embedding ``[D]`` of ``conv_seg``."""
        return self.classifier.background_embed

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Also load checkpoints that kept the background on the head.

        The learned background used to be the head's own ``background_embed``
        parameter; it is now ``conv_seg.background_embed``.
        """
        old = prefix + 'background_embed'
        if old in state_dict:
            new = f'{prefix}{self.classifier_name}.background_embed'
            state_dict.setdefault(new, state_dict.pop(old))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -------------------------------------------------- class-count rules
    def _set_num_classes(self, num_classes: int) -> None:
        """Apply mmseg's softmax / binary class-count conventions."""
        if self.binary:
            self.num_classes = 2
            self.out_channels = 1
        else:
            self.num_classes = num_classes
            self.out_channels = num_classes

    def _check_vocabulary_size(self, num_texts: int) -> None:
        """Raise when ``num_texts`` entries do not fit the head's convention.
        """
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

    def _scored_text(self, text_embeds: Tensor,
                     text_mask: Optional[Tensor]) -> Tuple:
        """The entries ``conv_seg`` scores: a binary head's foreground."""
        if self.binary and text_embeds.shape[-2] == 2:
            foreground = 1 - (self.background_index % 2)
            text_embeds = text_embeds[..., foreground:foreground + 1, :]
            if text_mask is not None:
                text_mask = text_mask[..., foreground:foreground + 1]
        return text_embeds, text_mask

    # ---------------------------------------------------------- vocabulary
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
        text, mask = self._scored_text(text_embeds, text_mask)
        with super().vocabulary(text, mask):
            self._set_num_classes(num_texts)
            yield

    def bake_vocabulary(self, text_embeds: Tensor) -> None:
        """Fix a ``[K, D]`` vocabulary into the head (LM-free inference).

        Args:
            text_embeds (Tensor): L2-normalised class embeddings.
        """
        self._check_vocabulary_size(text_embeds.shape[0])
        text, _ = self._scored_text(text_embeds, None)
        self.classifier.bake(text)
        self._set_num_classes(text_embeds.shape[0])

    # ------------------------------------------------------ predict / loss
    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Stock resize to the input size, in channels-last memory.

        With hundreds of classes the full-resolution logits dominate
        inference; channels-last makes the resize and the per-pixel argmax
        over classes run on contiguous memory (same values).
        """
        seg_logits = seg_logits.contiguous(memory_format=torch.channels_last)
        return super().predict_by_feat(seg_logits, batch_img_metas)

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
        """Stock decode loss, after checking the labels."""
        self._check_labels(self._stack_batch_gt(batch_data_samples))
        return super().loss_by_feat(seg_logits, batch_data_samples)
