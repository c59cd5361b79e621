"""What single- and two-stage language-guided detectors share: where the
vocabulary comes from, running the neck with it, and label remapping."""
from contextlib import ExitStack, contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import torch
from mmdet.structures import SampleList
from torch import Tensor

from mmvlm.models.layers import LanguageGuidedHeadMixin
from .batch_vocabulary import BatchVocabulary, deduplicate, parse_prompts

VocabularyLike = Union[str, Sequence, dict]


def resolve_vocabulary(vocabulary: VocabularyLike) -> list:
    """Turn a configured vocabulary into a list of entries.

    Args:
        vocabulary (str | Sequence | dict): Prompts separated by full stops,
            a sequence of entries, or ``dict(dataset='LVISV1Dataset')`` to
            take the class names from a registered mmdet dataset's
            ``METAINFO``.

    Returns:
        list: Vocabulary entries.
    """
    if isinstance(vocabulary, dict):
        if set(vocabulary) != {'dataset'}:
            raise ValueError('A vocabulary dict takes one key, dataset=<a '
                             'registered dataset type, e.g. LVISV1Dataset>; '
                             f'got {vocabulary}.')
        from mmdet.registry import DATASETS
        dataset_cls = DATASETS.get(vocabulary['dataset'])
        if dataset_cls is None or 'classes' not in getattr(
                dataset_cls, 'METAINFO', {}):
            raise ValueError(
                f'vocabulary=dict(dataset={vocabulary["dataset"]!r}): no '
                'registered mmdet dataset of that name with METAINFO classes.')
        return list(dataset_cls.METAINFO['classes'])
    return parse_prompts(vocabulary)


class LanguageGuidedDetectorMixin:
    """Vocabulary handling of :class:`LanguageGuidedDetector` and
    :class:`LanguageGuidedTwoStageDetector`.

    The vocabulary of a batch comes, in this order, from the data samples'
    metainfo (``text``, ``text_mask``, ``text_label_ids``), from the model's
    ``vocabulary`` (config or :meth:`set_vocabulary`), or from
    ``dataset_meta['classes']``. ``loss`` / ``predict`` / ``_forward`` run the
    stock detector code inside a scope where :meth:`extract_feat` runs the
    language neck on that vocabulary and sets it on every language-guided
    head; predicted vocabulary indices are mapped back to dataset label ids.
    """

    def _init_vocabulary(self,
                         vocabulary: Optional[VocabularyLike] = None,
                         vocabulary_label_ids: Optional[Sequence[int]] = None
                         ) -> None:
        self._vocabulary: Optional[list] = None
        self._vocabulary_label_ids: Optional[list] = None
        self._active_vocabulary: Optional[BatchVocabulary] = None
        self._head_scope: Optional[ExitStack] = None
        if not self.language_guided_heads:
            raise TypeError(
                f'{type(self).__name__} found no language-guided head; use '
                'LanguageGuidedATSSHead / LanguageGuidedRetinaHead / '
                'LanguageGuidedFCOSHead, or LanguageGuidedBBoxHead in the '
                'RoI head.')
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, vocabulary_label_ids)

    # ------------------------------------------------------------------ API
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

    @property
    def vocabulary(self) -> Optional[list]:
        """The model-level vocabulary (test-time / inference prompts)."""
        return self._vocabulary

    def set_vocabulary(self,
                       vocabulary: VocabularyLike,
                       label_ids: Optional[Sequence[int]] = None) -> None:
        """Set the vocabulary used when data samples carry no ``text``.

        Args:
            vocabulary (str | Sequence | dict): Prompts (``'a red car. a
                person'``), a sequence of entries (an entry may be a tuple of
                synonyms), or ``dict(dataset='LVISV1Dataset')``.
            label_ids (Sequence[int], optional): Dataset label id of each
                entry; the entry index when None.
        """
        entries = resolve_vocabulary(vocabulary)
        if label_ids is not None and len(label_ids) != len(entries):
            raise ValueError(
                f'{len(label_ids)} vocabulary_label_ids for {len(entries)} '
                'prompts; give one label id per prompt.')
        if not entries:
            raise ValueError(
                f'The vocabulary {vocabulary!r} has zero prompts: give at '
                'least one class name, e.g. "a red car. a person".')
        # Warn once per vocabulary, not on every image of a demo loop.
        warned = self.__dict__.setdefault('_warned_vocabularies', set())
        key = repr(entries)
        self._vocabulary, self._vocabulary_label_ids = deduplicate(
            entries, label_ids, warn=key not in warned)
        warned.add(key)

    # ------------------------------------------------------- batch vocabulary
    def batch_vocabulary(self,
                         batch_data_samples: Optional[SampleList],
                         num_images: int,
                         check_gt: bool = False) -> BatchVocabulary:
        """Find the vocabulary of each image of a batch.

        Args:
            batch_data_samples (list[DetDataSample], optional): Samples.
            num_images (int): Batch size.
            check_gt (bool): Check that every gt label is in its image's
                vocabulary (training).

        Returns:
            BatchVocabulary: Texts, masks and label ids per image.
        """
        samples = list(batch_data_samples or [])
        with_text = [('text' in s.metainfo) for s in samples]
        if samples and any(with_text) and not self.is_baked:
            if not all(with_text):
                raise ValueError(
                    'Some data samples of the batch carry a vocabulary '
                    '(metainfo "text") and some do not; add "text" to the '
                    "PackDetInputs meta_keys and set return_classes=True on "
                    'every dataset.')
            vocab = self._vocabulary_from_samples(samples)
        elif self._vocabulary is not None:
            vocab = self._model_vocabulary(num_images, 'model')
        elif getattr(self, 'dataset_meta', None) and \
                self.dataset_meta.get('classes'):
            self.set_vocabulary(list(self.dataset_meta['classes']))
            vocab = self._model_vocabulary(num_images, 'dataset_meta')
        else:
            raise RuntimeError(
                f'{type(self).__name__} has no vocabulary: the data samples '
                'carry no "text" metainfo (set return_classes=True on the '
                'dataset and add "text", "custom_entities" to the '
                'PackDetInputs meta_keys) and no model vocabulary is set '
                '(give model.vocabulary=[...] in the config or call '
                'model.set_vocabulary("a cat. a dog")).')
        if check_gt:
            self._check_gt_labels(samples, vocab)
        return vocab

    def _model_vocabulary(self, num_images: int,
                          source: str) -> BatchVocabulary:
        entries = list(self._vocabulary)
        ids = list(self._vocabulary_label_ids)
        return BatchVocabulary(
            texts=[entries] * num_images,
            masks=[[True] * len(entries)] * num_images,
            label_ids=[ids] * num_images,
            source=source)

    def _vocabulary_from_samples(self, samples: SampleList) -> BatchVocabulary:
        texts, masks, label_ids = [], [], []
        for sample in samples:
            meta = sample.metainfo
            text = meta['text']
            entries = parse_prompts(text) if isinstance(text, str) else list(
                text)
            if not entries:
                raise ValueError(
                    f'Image {self._image_name(sample)} has an empty '
                    'vocabulary (metainfo "text"); give at least one class.')
            mask = meta.get('text_mask')
            mask = [bool(m) for m in mask] if mask is not None else [
                e != '' for e in entries
            ]
            ids = meta.get('text_label_ids')
            identity = ids is None
            ids = list(range(len(entries))) if identity else [
                int(i) for i in ids
            ]
            if not len(mask) == len(ids) == len(entries):
                raise ValueError(
                    f'Image {self._image_name(sample)}: text has '
                    f'{len(entries)} entries, text_mask {len(mask)}, '
                    f'text_label_ids {len(ids)}; they must have one value '
                    'per entry.')
            ids = [i if m else -1 for i, m in zip(ids, mask)]
            self._check_label_id_range(sample, entries, ids)
            texts.append(entries)
            masks.append(mask)
            label_ids.append(ids)
        return BatchVocabulary(texts, masks, label_ids, 'data_samples')

    def _check_label_id_range(self, sample, entries: list,
                              ids: List[int]) -> None:
        """Dataset label ids must lie in ``[0, num_classes)`` of the head."""
        num_classes = self.language_guided_heads[0].closed_set_num_classes
        bad = [(e, i) for e, i in zip(entries, ids) if i >= num_classes]
        if bad:
            entry, label_id = bad[0]
            raise ValueError(
                f'Image {self._image_name(sample)}: vocabulary entry '
                f'{entry!r} has dataset label id {label_id}, but the head '
                f'was configured with num_classes={num_classes} (probably '
                f'inherited from the base config); {len(bad)} entries are '
                'out of range. A language-guided detector takes its classes '
                'from the text, and num_classes must be the number of '
                'dataset classes (len(metainfo["classes"])) so that '
                'predictions map back to valid label ids. Set '
                f'num_classes={max(ids) + 1} or larger in the head config; '
                'nothing is clipped silently.')

    @staticmethod
    def _image_name(sample) -> str:
        meta = sample.metainfo
        for key in ('img_path', 'img_id'):
            if meta.get(key) is not None:
                return repr(meta[key])
        return '(unnamed image)'

    def _check_gt_labels(self, samples: SampleList,
                         vocab: BatchVocabulary) -> None:
        for index, sample in enumerate(samples):
            if 'gt_instances' not in sample:
                continue
            labels = sample.gt_instances.labels
            if labels.numel() == 0:
                continue
            entries, mask = vocab.texts[index], vocab.masks[index]
            for label in labels.unique().tolist():
                if label < 0 or label >= len(entries) or not mask[label]:
                    what = (f'padding entry {label}' if 0 <= label < len(
                        entries) else f'label {label}')
                    raise ValueError(
                        f'Image {self._image_name(sample)} has a gt box of '
                        f'class {what}, which is not in its vocabulary '
                        f'({len(entries)} entries: {entries[:8]}'
                        f'{"..." if len(entries) > 8 else ""}). gt labels '
                        'index the sample\'s "text"; check the dataset '
                        'classes and the vocabulary transform.')

    # ------------------------------------------------------------- running
    @contextmanager
    def _vocabulary_scope(self, vocab: BatchVocabulary) -> Iterator[None]:
        """Let :meth:`extract_feat` encode ``vocab`` and set it on heads."""
        with ExitStack() as stack:
            self._active_vocabulary = vocab
            self._head_scope = stack
            try:
                yield
            finally:
                self._active_vocabulary = None
                self._head_scope = None

    def extract_feat(self, batch_inputs: Tensor):
        """Backbone and neck; with a language neck, also encode the batch's
        vocabulary and set it on the language-guided heads.

        Args:
            batch_inputs (Tensor): Images ``[B, C, H, W]``.

        Returns:
            tuple[Tensor]: Multi-level visual features.
        """
        x = self.backbone(batch_inputs)
        if not self.with_text_neck:
            if not self.is_baked:
                raise RuntimeError(
                    f'{type(self).__name__} has no language neck '
                    '(LLMPrefixNeck) and no baked vocabulary: set '
                    'neck=dict(type="LLMPrefixNeck", ...) or bake one with '
                    'tools/bake_vocabulary.py.')
            return self.neck(x) if getattr(self, 'neck', None) else x
        vocab = self._active_vocabulary
        if vocab is None:
            if not self.is_baked:
                raise RuntimeError(
                    'extract_feat() of a language-guided detector runs inside '
                    'loss() / predict() / _forward(), which set the '
                    'vocabulary; call those instead.')
            return self.neck(x, list(self._vocabulary), per_image=False)[0]
        feats, text_embeds, text_mask = self.neck(
            x, vocab.neck_texts(), per_image=not vocab.shared)
        text_mask = text_mask & vocab.mask_tensor(
            text_mask.shape[-1], device=text_mask.device)
        for head in self.language_guided_heads:
            self._head_scope.enter_context(
                head.vocabulary(text_embeds, text_mask))
        return feats

    def _run(self, batch_data_samples, num_images: int, check_gt: bool):
        vocab = self.batch_vocabulary(batch_data_samples, num_images,
                                      check_gt)
        if self.is_baked:
            return vocab, ExitStack()
        return vocab, self._vocabulary_scope(vocab)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """Stock losses with the batch's vocabulary.

        Args:
            batch_inputs (Tensor): Images ``[B, C, H, W]``.
            batch_data_samples (list[DetDataSample]): Samples with gt.

        Returns:
            dict: Losses.
        """
        _, scope = self._run(batch_data_samples, batch_inputs.shape[0],
                             check_gt=True)
        with scope:
            return super().loss(batch_inputs, batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Stock prediction; labels mapped back to dataset label ids.

        Args:
            batch_inputs (Tensor): Images ``[B, C, H, W]``.
            batch_data_samples (list[DetDataSample]): Samples.
            rescale (bool): Rescale boxes to the original image size.

        Returns:
            list[DetDataSample]: Samples with ``pred_instances`` whose
            ``labels`` are dataset label ids.
        """
        vocab, scope = self._run(batch_data_samples, batch_inputs.shape[0],
                                 check_gt=False)
        with scope:
            batch_data_samples = super().predict(batch_inputs,
                                                 batch_data_samples, rescale)
        self.remap_predictions(batch_data_samples, vocab)
        return batch_data_samples

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Tensor-mode forward (FLOPs counting, export): raw head outputs
        over the vocabulary of the samples, else of the model."""
        _, scope = self._run(batch_data_samples, batch_inputs.shape[0],
                             check_gt=False)
        with scope:
            return super()._forward(batch_inputs, batch_data_samples)

    def remap_predictions(self, batch_data_samples: SampleList,
                          vocab: BatchVocabulary) -> None:
        """Replace vocabulary indices in ``pred_instances.labels`` by dataset
        label ids (in place)."""
        for index, sample in enumerate(batch_data_samples):
            if 'pred_instances' in sample:
                pred = sample.pred_instances
                pred.labels = vocab.map_labels(index, pred.labels)

    def vocabulary_embeddings(self, vocabulary: VocabularyLike) -> Tensor:
        """``[K, D]`` text embeddings of a vocabulary (no image).

        Args:
            vocabulary (str | Sequence | dict): As :meth:`set_vocabulary`.

        Returns:
            Tensor: L2-normalised embeddings from the neck's cache.
        """
        if not self.with_text_neck:
            raise RuntimeError('This detector has no language neck.')
        entries = resolve_vocabulary(vocabulary)
        with torch.no_grad():
            return self.neck.encode_vocabulary(entries)
