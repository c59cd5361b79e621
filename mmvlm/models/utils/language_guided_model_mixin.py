"""The one mechanism that runs a model's heads against a vocabulary, shared
by the language-guided detectors (mmdet) and segmentors (mmseg)."""
from contextlib import ExitStack, contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmvlm.structures import (BatchVocabulary, Vocabulary, VocabularyLike,
                              select_batch_vocabulary)
from .language_guided_head_mixin import LanguageGuidedHeadMixin
from .stock_checkpoint import register_stock_checkpoint_hook


class LanguageGuidedModelMixin:
    """Vocabulary handling of a language-guided detector / segmentor.

    A subclass is a stock mmdet / mmseg model class plus this mixin; it
    names its language-guided heads (:attr:`language_guided_heads`) and
    wraps the stock entry points (``loss``, ``predict``, ``_forward``,
    ``encode_decode`` ...) in :meth:`vocabulary_scope`::

        def loss(self, inputs, data_samples):
            metas = [s.metainfo for s in data_samples]
            with self.vocabulary_scope(metas, len(metas), training=True):
                return super().loss(inputs, data_samples)

    Inside the scope the stock code runs unchanged: its call to
    :meth:`extract_feat` runs the backbone and the text neck
    (``LLMPrefixNeck``) on the batch's vocabulary, enters
    ``head.vocabulary(text_embeds, text_mask)`` of every language-guided
    head (decode head, auxiliary heads, RoI box heads) and returns the stock
    feature tuple. The heads leave their vocabulary when the scope ends.

    Which vocabulary a batch gets is decided by one rule,
    :func:`mmvlm.structures.select_batch_vocabulary`: at inference the
    run-time override (:meth:`set_vocabulary`) always wins, then the
    samples' ``text``, the configured ``vocabulary`` (``train_vocabulary``
    in training), ``dataset_meta['classes']``.

    A stock checkpoint of the model's stock twin loads too (``load_from``,
    ``--resume``, ``init_cfg=dict(type='Pretrained')``): the neck and heads
    map its keys, and a state-dict post-hook warm starts the classifiers
    that ask for it and logs the stock tensors that were not loaded
    (:mod:`mmvlm.models.utils.stock_checkpoint`).
    """

    #: Refuse an image whose vocabulary is only padding (segmentors: every
    #: pixel needs a class; a detection image may have no class at all).
    require_valid_vocabulary: bool = False

    def _init_vocabulary(
            self,
            vocabulary: Optional[VocabularyLike] = None,
            label_ids: Optional[Sequence[int]] = None,
            train_vocabulary: Optional[VocabularyLike] = None) -> None:
        """Parse the configured vocabularies; call after the stock
        ``__init__``.

        Args:
            vocabulary (VocabularyLike, optional): Vocabulary for batches
                whose samples carry no ``text`` (see
                :meth:`Vocabulary.parse`).
            label_ids (Sequence[int], optional): Dataset label id of each
                ``vocabulary`` entry.
            train_vocabulary (VocabularyLike, optional): Vocabulary for
                training batches whose samples carry no ``text`` (defaults
                to ``vocabulary``).
        """
        if not self.language_guided_heads:
            raise TypeError(
                f'{type(self).__name__} found no language-guided head; use '
                'a LanguageGuided* head (e.g. LanguageGuidedATSSHead, '
                'LanguageGuidedBBoxHead in the RoI head, '
                'LanguageGuidedFPNHead).')
        self._configured_vocabulary: Optional[Vocabulary] = None
        if vocabulary is not None:
            self._configured_vocabulary = Vocabulary.parse(
                vocabulary, label_ids)
        elif label_ids is not None:
            raise ValueError('vocabulary_label_ids were given without a '
                             'vocabulary; give both or neither.')
        self._train_vocabulary: Optional[Vocabulary] = None
        if train_vocabulary is not None:
            self._train_vocabulary = Vocabulary.parse(train_vocabulary)
        self._vocabulary_override: Optional[Vocabulary] = None
        self._active_vocabulary: Optional[BatchVocabulary] = None
        self._head_contexts: Optional[ExitStack] = None
        register_stock_checkpoint_hook(self)

    # ------------------------------------------------------------ heads
    @property
    def language_guided_heads(self) -> List[LanguageGuidedHeadMixin]:
        """Heads that score against the vocabulary."""
        raise NotImplementedError

    @property
    def with_text_neck(self) -> bool:
        """Whether the neck encodes texts (``LLMPrefixNeck``)."""
        return getattr(self, 'neck', None) is not None and hasattr(
            self.neck, 'encode_vocabulary')

    @property
    def is_baked(self) -> bool:
        """Whether every head has a baked vocabulary and no LM is needed."""
        return all(h.classifier.is_baked for h in self.language_guided_heads)

    # ------------------------------------------------------- vocabulary
    @property
    def vocabulary(self) -> Optional[Vocabulary]:
        """The vocabulary of batches without ``text``: the run-time
        override, else the configured vocabulary, else the dataset classes
        (None when there is none)."""
        if self._vocabulary_override is not None:
            return self._vocabulary_override
        if self._configured_vocabulary is not None:
            return self._configured_vocabulary
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes')
        if classes:
            return Vocabulary.parse(list(classes), warn_duplicates=False)
        return None

    @property
    def vocabulary_override(self) -> Optional[Vocabulary]:
        """The run-time override set by :meth:`set_vocabulary` (None when
        there is none); restore one with ``set_vocabulary(saved)``."""
        return self._vocabulary_override

    @property
    def vocabulary_label_ids(self) -> Optional[Tuple[int, ...]]:
        """Dataset label id of each entry of :attr:`vocabulary`."""
        vocab = self.vocabulary
        return None if vocab is None else vocab.label_ids

    @property
    def train_vocabulary(self) -> Optional[Vocabulary]:
        """The vocabulary of training batches without ``text``."""
        if self._train_vocabulary is not None:
            return self._train_vocabulary
        return self._configured_vocabulary

    def set_vocabulary(self,
                       vocabulary: Optional[VocabularyLike],
                       label_ids: Optional[Sequence[int]] = None) -> None:
        """Set (or clear, with None) the run-time vocabulary override.

        Until cleared, every inference batch (``predict``, tensor mode,
        ``encode_decode``) is scored against it, also when the samples
        carry their own ``text`` (which a test pipeline's ``LoadClassTexts``
        fills with the dataset classes); predicted labels are indices into
        its entries (or its ``label_ids``). Training ignores it.

        Args:
            vocabulary (VocabularyLike | None): Prompts (``'a red car. a
                person'``), a list of entries (an entry may be a tuple of
                synonyms), a dataset name (``'LVISV1Dataset'``), a dict or
                a :class:`Vocabulary` (see :meth:`Vocabulary.parse`); None
                clears the override.
            label_ids (Sequence[int], optional): Dataset label id of each
                entry; the entry index when None.
        """
        if vocabulary is None:
            if label_ids is not None:
                raise ValueError('label_ids without a vocabulary: give '
                                 'both, or None alone to clear.')
            self._vocabulary_override = None
            return
        if self.is_baked:
            raise ValueError(
                f'{type(self).__name__} has a baked, fixed vocabulary '
                f'({self.vocabulary}); it cannot take new prompts. Use the '
                'language-guided model instead.')
        self._vocabulary_override = Vocabulary.parse(vocabulary, label_ids)

    @contextmanager
    def temporary_vocabulary(
            self,
            vocabulary: VocabularyLike,
            label_ids: Optional[Sequence[int]] = None
    ) -> Iterator[Vocabulary]:
        """Score against ``vocabulary`` inside the block only.

        The run-time override is set as :meth:`set_vocabulary` sets it
        (same spellings, same errors) and the previous override, or none,
        is restored when the block ends, also when it raises::

            with model.temporary_vocabulary('a red car. a person'):
                results = model.test_step(data)

        Args:
            vocabulary (VocabularyLike): The prompts of the block.
            label_ids (Sequence[int], optional): Dataset label id of each
                entry; the entry index when None.

        Yields:
            Vocabulary: The parsed vocabulary in force inside the block.
        """
        saved = self._vocabulary_override
        self.set_vocabulary(vocabulary, label_ids)
        try:
            yield self._vocabulary_override
        finally:
            self._vocabulary_override = saved

    def batch_vocabulary(self,
                         metainfos: Sequence[dict],
                         num_images: int,
                         training: bool = False) -> BatchVocabulary:
        """The vocabulary of each image of a batch (the precedence rule of
        :func:`mmvlm.structures.select_batch_vocabulary`).

        Args:
            metainfos (Sequence[dict]): Metainfo of each sample.
            num_images (int): Batch size.
            training (bool): A training batch (no override; the training
                vocabulary).

        Returns:
            BatchVocabulary: One vocabulary per image.
        """
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes')
        configured = (self.train_vocabulary
                      if training else self._configured_vocabulary)
        return select_batch_vocabulary(
            metainfos,
            num_images,
            training=training,
            override=self._vocabulary_override,
            configured=configured,
            dataset_classes=classes,
            use_samples=not self.is_baked,
            require_valid=self.require_valid_vocabulary,
            owner=type(self).__name__)

    @contextmanager
    def vocabulary_scope(self,
                         metainfos: Sequence[dict],
                         num_images: int,
                         training: bool = False) -> Iterator[BatchVocabulary]:
        """Run the stock model code against the batch's vocabulary.

        Re-entrant: inside an open scope (``predict`` → ``inference`` →
        ``encode_decode``) the batch's vocabulary is reused.

        Args:
            metainfos (Sequence[dict]): Metainfo of each sample.
            num_images (int): Batch size.
            training (bool): A training batch.

        Yields:
            BatchVocabulary: The batch's vocabulary.
        """
        if self._active_vocabulary is not None:
            yield self._active_vocabulary
            return
        vocab = self.batch_vocabulary(metainfos, num_images, training)
        self._active_vocabulary = vocab
        self._head_contexts = ExitStack()
        try:
            yield vocab
        finally:
            self._head_contexts.close()
            self._head_contexts = None
            self._active_vocabulary = None

    # -------------------------------------------------------- features
    def encode_batch(
            self, x: Tuple[Tensor, ...], vocab: BatchVocabulary
    ) -> Tuple[Tuple[Tensor, ...], Tensor, Tensor]:
        """Run the text neck on backbone features and a batch vocabulary.

        Args:
            x (tuple[Tensor]): Backbone feature maps.
            vocab (BatchVocabulary): The batch's vocabulary.

        Returns:
            tuple: ``(feats, text_embeds [B, K, D], text_mask [B, K])``;
            ``text_mask`` is False for padding entries.
        """
        feats, text_embeds, text_mask = self.neck(x,
                                                  vocab.neck_texts(),
                                                  per_image=not vocab.shared)
        text_mask = text_mask & vocab.mask_tensor(text_mask.shape[-1],
                                                  device=text_mask.device)
        return feats, text_embeds, text_mask

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Backbone and neck, as the stock model; with a text neck, also
        encode the batch's vocabulary and set it on every language-guided
        head (until the :meth:`vocabulary_scope` ends).

        Args:
            inputs (Tensor): Images ``[B, C, H, W]``.

        Returns:
            tuple[Tensor]: Multi-level visual features.
        """
        x = self.backbone(inputs)
        if not self.with_text_neck:
            if not self.is_baked:
                raise RuntimeError(
                    f'{type(self).__name__} has no language neck '
                    '(LLMPrefixNeck) and no baked vocabulary: set '
                    'neck=dict(type="LLMPrefixNeck", ...) or bake a '
                    'vocabulary into the heads.')
            return self.neck(x) if getattr(self, 'neck', None) else x
        vocab = self._active_vocabulary
        if vocab is None:
            if not self.is_baked:
                raise RuntimeError(
                    f'extract_feat() of {type(self).__name__} runs inside '
                    'loss() / predict() / _forward() (or a '
                    'vocabulary_scope()), which set the vocabulary; call '
                    'those instead.')
            vocab = self.batch_vocabulary([], inputs.shape[0])
        feats, text_embeds, text_mask = self.encode_batch(x, vocab)
        if not self.is_baked and self._head_contexts is not None:
            # One vocabulary per call: a slide inference encodes per crop.
            self._head_contexts.close()
            for head in self.language_guided_heads:
                self._head_contexts.enter_context(
                    head.vocabulary(text_embeds, text_mask))
        return feats

    def vocabulary_embeddings(self, vocabulary: VocabularyLike) -> Tensor:
        """``[K, D]`` text embeddings of a vocabulary (no image).

        Args:
            vocabulary (VocabularyLike): As :meth:`set_vocabulary`.

        Returns:
            Tensor: L2-normalised embeddings from the neck's cache.
        """
        if not self.with_text_neck:
            raise RuntimeError(f'{type(self).__name__} has no language neck.')
        entries = list(Vocabulary.parse(vocabulary).entries)
        with torch.no_grad():
            return self.neck.encode_vocabulary(entries)
