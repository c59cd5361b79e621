"""mmpretrain's ``ImageClassifier`` classifying against a vocabulary."""
from typing import List, Optional, Sequence

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample
from torch import Tensor

from mmvlm.models.utils import LanguageGuidedModelMixin
from mmvlm.registry import CLS_MODELS
from mmvlm.structures import BatchVocabulary, VocabularyLike
from .label_mapping import (dataset_vocabulary, entry_labels_to_dataset,
                            entry_scores_to_dataset, multi_label_targets,
                            score_targets, single_label_targets)


@CLS_MODELS.register_module()
class LanguageGuidedImageClassifier(LanguageGuidedModelMixin, ImageClassifier):
    """The stock ``ImageClassifier`` + the language-guided model mixin.

    ``neck`` is an ``LLMPrefixNeck`` wrapping the stock neck (e.g.
    ``GlobalAveragePooling``); ``head`` a :class:`LanguageGuidedClsHead` or
    :class:`LanguageGuidedMultiLabelClsHead`. Each batch is scored against
    its vocabulary (the precedence rule of ``docs/design.md`` §2: run-time
    override, samples' ``text``, ``train_vocabulary`` / ``vocabulary``,
    ``dataset_meta['classes']``).

    Targets and predictions are dataset class ids: ground-truth ids become
    vocabulary entries before the stock loss, and entry scores are
    scattered back into the dataset's classes after the stock ``predict``,
    so ``Accuracy`` / ``MultiLabelMetric`` evaluate unchanged (classes
    outside the vocabulary score 0).

    Args:
        vocabulary (VocabularyLike, optional): Vocabulary of batches whose
            samples carry no ``text``; also an mmpretrain dataset name
            (``'ImageNet'``, ``'CIFAR10'``: its classes). mmengine's runner
            does not give models the dataset's classes, so configs name
            the vocabulary (or put ``LoadClassTexts`` in the pipeline).
        vocabulary_label_ids (Sequence[int], optional): Dataset id of each
            ``vocabulary`` entry.
        train_vocabulary (VocabularyLike, optional): Vocabulary of training
            batches (e.g. the seen classes,
            ``dict(texts=[...], label_ids=[...])``).
        **kwargs: Arguments of ``ImageClassifier`` (``backbone``, ``neck``,
            ``head``, ``data_preprocessor``, ``train_cfg``, ``init_cfg``).
    """

    def __init__(self,
                 *args,
                 vocabulary: Optional[VocabularyLike] = None,
                 vocabulary_label_ids: Optional[Sequence[int]] = None,
                 train_vocabulary: Optional[VocabularyLike] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.head is None or not hasattr(self.head, 'vocabulary'):
            raise TypeError(
                f'{type(self).__name__} needs a language-guided head '
                '(LanguageGuidedClsHead or LanguageGuidedMultiLabelClsHead), '
                f'got {type(self.head).__name__}.')
        self._init_vocabulary(dataset_vocabulary(vocabulary),
                              vocabulary_label_ids,
                              dataset_vocabulary(train_vocabulary))

    @property
    def language_guided_heads(self) -> list:
        """The classification head."""
        head = getattr(self, 'head', None)
        return [head
                ] if head is not None and hasattr(head, 'vocabulary') else []

    @property
    def multi_label(self) -> bool:
        """Whether the head is the sigmoid (multi-label) variant."""
        return hasattr(self.head, 'thr')

    @property
    def num_dataset_classes(self) -> int:
        """Classes the predictions are scattered into."""
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes')
        return len(classes) if classes else self.head.closed_set_num_classes

    # ----------------------------------------------------------- stock API
    def extract_feat(self, inputs: Tensor, stage: str = 'neck'):
        """Backbone, text neck and vocabulary (see the mixin).

        Args:
            inputs (Tensor): ``[B, C, H, W]`` images.
            stage (str): ``'neck'`` or ``'backbone'`` (``'pre_logits'`` has
                no vocabulary-free meaning here).

        Returns:
            tuple[Tensor]: The features of that stage.
        """
        if stage == 'backbone':
            return self.backbone(inputs)
        if stage != 'neck':
            raise ValueError(f"{type(self).__name__}.extract_feat supports "
                             f"stage='neck' or 'backbone', got {stage!r}.")
        return LanguageGuidedModelMixin.extract_feat(self, inputs)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """As the stock ``forward``; ``'tensor'`` returns ``[B, K]`` logits
        over the vocabulary (configured / dataset classes)."""
        if mode == 'tensor':
            metas = [s.metainfo for s in data_samples or []]
            with self.vocabulary_scope(metas, inputs.shape[0]):
                return self.head(self.extract_feat(inputs))
        return super().forward(inputs, data_samples, mode)

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """Stock loss on targets mapped to vocabulary entries."""
        metas = [s.metainfo for s in data_samples]
        with self.vocabulary_scope(metas, len(metas), training=True) as vocab:
            samples = self._entry_targets(data_samples, vocab)
            return super().loss(inputs, samples)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Stock predict; scores and labels mapped to dataset classes."""
        metas = [s.metainfo for s in data_samples or []]
        with self.vocabulary_scope(metas, inputs.shape[0]) as vocab:
            results = super().predict(inputs, data_samples, **kwargs)
        return self._dataset_predictions(results, vocab)

    # ------------------------------------------------------ label mapping
    def _entry_targets(self, data_samples: List[DataSample],
                       vocab: BatchVocabulary) -> List[DataSample]:
        """Copies of the samples whose targets index vocabulary entries."""
        out = []
        for index, sample in enumerate(data_samples):
            ids = vocab.label_ids[index]
            sample = sample.clone()
            if 'gt_score' in sample:
                sample.set_gt_score(score_targets(sample.gt_score, ids))
            elif 'gt_label' in sample:
                if self.multi_label:
                    labels = multi_label_targets(sample.gt_label, ids)
                else:
                    labels = single_label_targets(sample.gt_label, ids,
                                                  type(self).__name__)
                sample.set_gt_label(labels)
            out.append(sample)
        return out

    def _dataset_predictions(self, results: List[DataSample],
                             vocab: BatchVocabulary) -> List[DataSample]:
        """Scatter entry scores into dataset classes (in place)."""
        for index, sample in enumerate(results):
            ids = vocab.label_ids[index]
            valid = torch.tensor(vocab.masks[index], dtype=torch.bool)
            ids = [i if ok else -1 for i, ok in zip(ids, valid.tolist())]
            score = entry_scores_to_dataset(sample.pred_score, ids,
                                            self.num_dataset_classes)
            label = entry_labels_to_dataset(sample.pred_label, ids)
            sample.set_field(score, 'pred_score')
            sample.set_field(label, 'pred_label')
        return results

    # ------------------------------------------------------------- baking
    @torch.no_grad()
    def bake_vocabulary(self,
                        vocabulary: Optional[VocabularyLike] = None,
                        label_ids: Optional[Sequence[int]] = None) -> None:
        """Fix a vocabulary into the head and drop the language model.

        The text embeddings are stored in the head's contrastive classifier,
        the ``LLMPrefixNeck`` is replaced by its inner stock neck and the
        vocabulary becomes the configured one. Scores are unchanged (the
        neck has no fusion / visual prefix for classification).

        Args:
            vocabulary (VocabularyLike, optional): Default: the current
                :attr:`vocabulary`.
            label_ids (Sequence[int], optional): Dataset id of each entry.
        """
        from mmvlm.structures import Vocabulary
        if not self.with_text_neck:
            raise RuntimeError(f'{type(self).__name__} has no language '
                               'neck; it is baked already.')
        vocab = (Vocabulary.parse(vocabulary, label_ids)
                 if vocabulary is not None else self.vocabulary)
        if vocab is None:
            raise ValueError('bake_vocabulary() needs a vocabulary: pass one '
                             'or configure vocabulary / dataset_meta.')
        if getattr(self.neck, 'fusion', None) is not None or getattr(
                self.neck, 'visual_projector', None) is not None:
            raise ValueError(
                'The neck fuses text into the image or conditions the text '
                'on the image: a fixed vocabulary cannot be folded into the '
                'head exactly. Bake a model trained without fusion / '
                'visual_prefix.')
        embeds = self.neck.encode_vocabulary(list(vocab.entries))
        self.head.bake_vocabulary(embeds)
        self.neck = self.neck.neck
        self._configured_vocabulary = vocab
        self._vocabulary_override = None
