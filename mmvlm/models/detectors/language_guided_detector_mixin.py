"""What single- and two-stage language-guided detectors add to the shared
vocabulary mechanism: gt / label-id checks and label remapping."""
from typing import List, Optional

from mmdet.structures import SampleList
from torch import Tensor

from mmvlm.models.utils import LanguageGuidedModelMixin
from mmvlm.structures import (BatchVocabulary, Vocabulary, VocabularyLike,
                              image_name)


class LanguageGuidedDetectorMixin(LanguageGuidedModelMixin):
    """Vocabulary handling of :class:`LanguageGuidedDetector` and
    :class:`LanguageGuidedTwoStageDetector`.

    The stock ``loss`` / ``predict`` / ``_forward`` run inside
    :meth:`vocabulary_scope` (:class:`LanguageGuidedModelMixin`), where
    ``extract_feat`` runs the language neck on the batch's vocabulary and
    sets it on every language-guided head. Predicted vocabulary indices are
    mapped back to dataset label ids (the override's own indices or
    ``label_ids`` when one is set).
    """

    # ------------------------------------------------------------ checks
    def batch_vocabulary(self,
                         metainfos,
                         num_images: int,
                         training: bool = False) -> BatchVocabulary:
        """See :meth:`LanguageGuidedModelMixin.batch_vocabulary`; the label
        ids of sample vocabularies are checked against the head."""
        vocab = super().batch_vocabulary(metainfos, num_images, training)
        if vocab.from_samples:
            for meta, v in zip(metainfos, vocab.vocabularies):
                self._check_label_id_range(meta, v)
        return vocab

    def _check_label_id_range(self, metainfo: dict, vocab: Vocabulary) -> None:
        """Dataset label ids must lie in ``[0, num_classes)`` of the head."""
        num_classes = self.language_guided_heads[0].closed_set_num_classes
        bad = [(e, i) for e, i in zip(vocab.entries, vocab.label_ids)
               if i >= num_classes]
        if bad:
            entry, label_id = bad[0]
            raise ValueError(
                f'Image {image_name(metainfo)}: vocabulary entry '
                f'{entry!r} has dataset label id {label_id}, but the head '
                f'was configured with num_classes={num_classes} (probably '
                f'inherited from the base config); {len(bad)} entries are '
                'out of range. A language-guided detector takes its classes '
                'from the text, and num_classes must be the number of '
                'dataset classes (len(metainfo["classes"])) so that '
                'predictions map back to valid label ids. Set '
                f'num_classes={max(vocab.label_ids) + 1} or larger in the '
                'head config; nothing is clipped silently.')

    @staticmethod
    def _check_gt_labels(samples: SampleList, vocab: BatchVocabulary) -> None:
        for index, sample in enumerate(samples):
            if 'gt_instances' not in sample:
                continue
            labels = sample.gt_instances.labels
            if labels.numel() == 0:
                continue
            entries, mask = vocab.texts[index], vocab.masks[index]
            for label in labels.unique().tolist():
                if label < 0 or label >= len(entries) or not mask[label]:
                    what = (f'padding entry {label}'
                            if 0 <= label < len(entries) else f'label {label}')
                    raise ValueError(
                        f'Image {image_name(sample.metainfo)} has a gt box '
                        f'of class {what}, which is not in its vocabulary '
                        f'({len(entries)} entries: {entries[:8]}'
                        f'{"..." if len(entries) > 8 else ""}). gt labels '
                        'index the sample\'s "text"; check the dataset '
                        'classes and the vocabulary transform.')

    # ----------------------------------------------------------- running
    @staticmethod
    def _metainfos(batch_data_samples: Optional[SampleList]) -> List[dict]:
        return [s.metainfo for s in batch_data_samples or []]

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """Stock losses with the batch's vocabulary.

        Args:
            batch_inputs (Tensor): Images ``[B, C, H, W]``.
            batch_data_samples (list[DetDataSample]): Samples with gt.

        Returns:
            dict: Losses.
        """
        with self.vocabulary_scope(self._metainfos(batch_data_samples),
                                   batch_inputs.shape[0],
                                   training=True) as vocab:
            self._check_gt_labels(batch_data_samples, vocab)
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
        with self.vocabulary_scope(self._metainfos(batch_data_samples),
                                   batch_inputs.shape[0]) as vocab:
            batch_data_samples = super().predict(batch_inputs,
                                                 batch_data_samples, rescale)
        self.remap_predictions(batch_data_samples, vocab)
        return batch_data_samples

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Tensor-mode forward (FLOPs counting, export): raw head outputs
        over the batch's vocabulary."""
        with self.vocabulary_scope(self._metainfos(batch_data_samples),
                                   batch_inputs.shape[0]):
            return super()._forward(batch_inputs, batch_data_samples)

    @staticmethod
    def remap_predictions(batch_data_samples: SampleList,
                          vocab: BatchVocabulary) -> None:
        """Replace vocabulary indices in ``pred_instances.labels`` by dataset
        label ids (in place; entries without one keep their index)."""
        for index, sample in enumerate(batch_data_samples):
            if 'pred_instances' in sample:
                pred = sample.pred_instances
                pred.labels = vocab.map_labels(index, pred.labels)
