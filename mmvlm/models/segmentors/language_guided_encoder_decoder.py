"""EncoderDecoder whose classes are defined by text."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample

from mmvlm.models.utils import (LanguageGuidedHeadMixin,
                                LanguageGuidedModelMixin)
from mmvlm.models.segmentors.upsampled_argmax import upsampled_argmax
from mmvlm.registry import SEG_MODELS
from mmvlm.structures import BatchVocabulary, Vocabulary, VocabularyLike

#: ``test_cfg.seg_logits='auto'`` keeps full-resolution ``seg_logits`` up to
#: this many classes, the decode head's low-resolution logits above.
FULL_LOGITS_MAX_CLASSES = 256
SEG_LOGITS_MODES = ('auto', 'full', 'low')


@SEG_MODELS.register_module()
class LanguageGuidedEncoderDecoder(LanguageGuidedModelMixin, EncoderDecoder):
    """An :class:`EncoderDecoder` whose classes are text.

    mmseg's stock ``loss`` (with its auxiliary-head merging),
    ``encode_decode``, ``inference`` and ``_forward`` run inside
    :meth:`vocabulary_scope` (:class:`LanguageGuidedModelMixin`):
    ``extract_feat`` runs backbone → ``LLMPrefixNeck(feats, texts)`` and
    sets the batch's vocabulary on the decode head and every
    language-guided auxiliary head. Which vocabulary a batch gets is the
    one rule of :func:`mmvlm.structures.select_batch_vocabulary`:

    1. at inference, the run-time override (:meth:`set_vocabulary`);
    2. the data samples' metainfo (``text``, ``text_mask``,
       ``text_label_ids``; docs/design.md §2): ``gt_sem_seg`` values index
       into ``text`` and predictions are mapped back to dataset ids through
       ``text_label_ids``;
    3. the model's ``train_vocabulary`` (training) / ``vocabulary``: gt values
       are dataset class ids, mapped to vocabulary indices through the
       vocabulary's ``label_ids`` (ids outside it become ``ignore_index``),
       and predictions are mapped back, so the stock ``IoUMetric`` works;
    4. ``dataset_meta['classes']``.

    Args:
        backbone (dict): Backbone config.
        decode_head (dict): A language-guided decode head config.
        neck (dict): ``LLMPrefixNeck`` config (it owns the language model).
        vocabulary (list | str | dict, optional): Default vocabulary; see
            :meth:`mmvlm.structures.Vocabulary.parse`.
        train_vocabulary (list | str | dict, optional): Vocabulary for
            training batches whose samples carry no ``text`` (defaults to
            ``vocabulary``), e.g. the seen classes of an open-vocabulary
            split.
        auxiliary_head (dict | list, optional): Stock or language-guided
            auxiliary heads.
        train_cfg, test_cfg, data_preprocessor, pretrained, init_cfg: As in
            :class:`EncoderDecoder`.
    """

    require_valid_vocabulary = True

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: dict,
                 vocabulary: Optional[VocabularyLike] = None,
                 train_vocabulary: Optional[VocabularyLike] = None,
                 auxiliary_head=None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        if neck is None:
            raise ValueError('LanguageGuidedEncoderDecoder needs a text neck '
                             "(neck=dict(type='LLMPrefixNeck', ...)).")
        super().__init__(backbone=backbone,
                         decode_head=decode_head,
                         neck=neck,
                         auxiliary_head=auxiliary_head,
                         train_cfg=train_cfg,
                         test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor,
                         pretrained=pretrained,
                         init_cfg=init_cfg)
        if not hasattr(self.neck, 'encode_vocabulary'):
            raise TypeError(
                f'The neck {type(self.neck).__name__} is not a text neck; '
                "use neck=dict(type='LLMPrefixNeck', neck=<your neck>, "
                'text_encoder=...).')
        if not isinstance(self.decode_head, LanguageGuidedHeadMixin):
            raise TypeError(
                f'decode_head {type(self.decode_head).__name__} is not '
                'language-guided; use e.g. LanguageGuidedFPNHead.')
        # attribute access (test_cfg.mode) also for configs built from dicts
        self.train_cfg = ConfigDict(train_cfg or {})
        self.test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
        self._init_vocabulary(vocabulary, train_vocabulary=train_vocabulary)

    @property
    def language_guided_heads(self) -> List[LanguageGuidedHeadMixin]:
        """The decode head and the language-guided auxiliary heads."""
        heads = [self.decode_head]
        if self.with_auxiliary_head:
            aux = self.auxiliary_head
            heads += list(aux) if isinstance(aux, nn.ModuleList) else [aux]
        return [h for h in heads if isinstance(h, LanguageGuidedHeadMixin)]

    @staticmethod
    def _metainfos(inputs: Tensor, data_samples=None) -> List[dict]:
        if data_samples is not None:
            return [s.metainfo for s in data_samples]
        return [{} for _ in range(inputs.shape[0])]

    # ---------------------------------------------------------------- loss
    def loss(self, inputs: Tensor, data_samples) -> dict:
        """mmseg's losses of the decode head and auxiliary heads.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            data_samples (list[SegDataSample]): Samples with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: Loss components.
        """
        metas = [s.metainfo for s in data_samples]
        with self.vocabulary_scope(metas, inputs.shape[0],
                                   training=True) as vocab:
            if not vocab.from_samples:
                data_samples = self._remap_gt(data_samples,
                                              vocab.vocabularies[0].label_ids)
            return super().loss(inputs, data_samples)

    def _remap_gt(self, data_samples, label_ids: Sequence[int]):
        """Map dataset class ids in ``gt_sem_seg`` to vocabulary indices."""
        ignore = self.decode_head.ignore_index
        if tuple(label_ids) == tuple(range(len(label_ids))):
            return data_samples
        size = max(max(label_ids) + 1, 256, ignore + 1)
        remapped = []
        for sample in data_samples:
            gt = sample.gt_sem_seg.data
            lut = torch.full((size, ),
                             ignore,
                             dtype=gt.dtype,
                             device=gt.device)
            for index, label in enumerate(label_ids):
                lut[label] = index
            new = sample.clone()
            labels = gt.long()
            if labels.numel() and int(labels.max()) >= size:
                raise ValueError(f'gt_sem_seg holds label id '
                                 f'{int(labels.max())} beyond {size - 1}.')
            new.gt_sem_seg = PixelData(data=lut[labels])
            remapped.append(new)
        return remapped

    # ----------------------------------------------------------- inference
    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Logits ``[B, K, H, W]`` (``[B, 1, H, W]`` for binary heads)."""
        with self.vocabulary_scope(batch_img_metas, inputs.shape[0]):
            return super().encode_decode(inputs, batch_img_metas)

    def _num_outputs(self, vocab: BatchVocabulary) -> int:
        if getattr(self.decode_head, 'binary', False):
            return 1
        return vocab.num_entries

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Whole or slide inference with the batch's vocabulary size."""
        with self.vocabulary_scope(batch_img_metas, inputs.shape[0]) as vocab:
            saved = self.out_channels, self.num_classes
            self.out_channels = self._num_outputs(vocab)
            self.num_classes = max(self.out_channels, 2)
            try:
                return super().inference(inputs, batch_img_metas)
            finally:
                self.out_channels, self.num_classes = saved

    def predict(self, inputs: Tensor, data_samples=None):
        """Predict label maps in dataset class ids.

        ``test_cfg.seg_logits`` chooses what ``seg_logits`` holds:
        ``'full'`` (the stock full-resolution ``[K, H, W]`` logits),
        ``'low'`` (the decode head's ``[K, h, w]`` logits, before any
        resize, crop or flip) or ``'auto'`` (default: ``'full'`` up to
        :data:`FULL_LOGITS_MAX_CLASSES` classes, ``'low'`` above). With
        ``'low'`` (whole-image inference, softmax heads) only the classes
        that can win a pixel are resized (:func:`upsampled_argmax`), so the
        cost no longer grows with classes x full-resolution pixels; the
        predictions are the same bits as the stock post-processing's.
        mmseg's ``SegTTAModel`` averages ``seg_logits`` across
        augmentations: use ``'full'`` with test-time augmentation.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            data_samples (list[SegDataSample], optional): Samples with
                metainfo.

        Returns:
            list[SegDataSample]: With ``pred_sem_seg`` (dataset label ids)
            and ``seg_logits`` (vocabulary order).
        """
        with self.vocabulary_scope(self._metainfos(inputs, data_samples),
                                   inputs.shape[0]) as vocab:
            if self._low_res_logits(vocab):
                results = self._predict_low_res(inputs, data_samples)
            else:
                results = super().predict(inputs, data_samples)
        binary = getattr(self.decode_head, 'binary', False)
        for i, result in enumerate(results):
            if binary and len(vocab.vocabularies[i]) == 1:
                continue  # 0 / 1 = outside / inside the one prompt
            mapped = vocab.map_labels(i,
                                      result.pred_sem_seg.data,
                                      fill=self.decode_head.ignore_index)
            result.pred_sem_seg = PixelData(data=mapped)
        return results

    def _low_res_logits(self, vocab: BatchVocabulary) -> bool:
        """Whether ``predict`` keeps low-resolution ``seg_logits``."""
        mode = self.test_cfg.get('seg_logits', 'auto')
        if mode not in SEG_LOGITS_MODES:
            raise ValueError(f'test_cfg.seg_logits={mode!r}; use one of '
                             f'{SEG_LOGITS_MODES}.')
        if mode == 'full' or (mode == 'auto' and
                              vocab.num_entries <= FULL_LOGITS_MAX_CLASSES):
            return False
        head = self.decode_head
        from mmvlm.models.decode_heads.language_guided_decode_head_mixin \
            import LanguageGuidedDecodeHeadMixin
        from mmseg.models.decode_heads.decode_head import BaseDecodeHead
        stock_predict = (
            type(head).predict is BaseDecodeHead.predict
            and type(head).predict_by_feat is
            LanguageGuidedDecodeHeadMixin.predict_by_feat)
        return (self.test_cfg.get('mode', 'whole') == 'whole'
                and not getattr(head, 'binary', False) and stock_predict)

    def _predict_low_res(self, inputs: Tensor, data_samples=None):
        """Whole-image prediction from the decode head's logits.

        Same label maps as mmseg's ``predict`` (resize to the input, remove
        padding, undo flips, resize to ``ori_shape``, arg-max), computed by
        :func:`upsampled_argmax` with that very chain of resizes as its
        reference.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            data_samples (list[SegDataSample], optional): Samples.

        Returns:
            list[SegDataSample]: ``pred_sem_seg`` in vocabulary indices,
            ``seg_logits`` ``[K, h, w]`` at the decode head's resolution.
        """
        logits = self.decode_head.forward(self.extract_feat(inputs))
        if data_samples is None:
            size = tuple(inputs.shape[2:])
            data_samples = [
                SegDataSample(metainfo=dict(ori_shape=size,
                                            img_shape=size,
                                            pad_shape=size,
                                            padding_size=[0, 0, 0, 0]))
                for _ in range(inputs.shape[0])
            ]
        return self.postprocess_low_res_result(logits, data_samples)

    def postprocess_low_res_result(self, seg_logits: Tensor, data_samples):
        """:meth:`postprocess_result` on the decode head's logits.

        The label maps are bit-identical to
        ``postprocess_result(decode_head.predict_by_feat(seg_logits,
        metas), data_samples)``, the stock chain (resize to the input
        size, remove padding, undo flips, resize to ``ori_shape``,
        arg-max), but only the classes that can win a pixel are resized
        (:func:`upsampled_argmax`).

        Args:
            seg_logits (Tensor): ``[B, K, h, w]`` decode-head logits.
            data_samples (list[SegDataSample]): Samples with metainfo
                (``pad_shape`` / ``img_shape``, ``ori_shape``, padding,
                flip).

        Returns:
            list[SegDataSample]: ``pred_sem_seg`` ``[1, H, W]`` (vocabulary
            indices) and ``seg_logits`` ``[K, h, w]``.
        """
        metas = [s.metainfo for s in data_samples]
        size = self._input_size(metas[0])
        for i, sample in enumerate(data_samples):
            logits = seg_logits[i]
            to_full = self._full_resolution_fn(size, metas[i])
            if logits.shape[0] > 1 and bool(logits.isfinite().all()) \
                    and logits.shape[1] <= size[0] \
                    and logits.shape[2] <= size[1]:
                pred = upsampled_argmax(logits, to_full)
            else:  # the stock arg-max
                pred = to_full(logits).argmax(dim=0)
            sample.set_data({
                'seg_logits': PixelData(data=logits),
                'pred_sem_seg': PixelData(data=pred[None])
            })
        return data_samples

    @staticmethod
    def _input_size(meta: dict) -> tuple:
        """The size mmseg's ``BaseDecodeHead.predict_by_feat`` resizes to."""
        if isinstance(meta['img_shape'], torch.Size):
            return tuple(meta['img_shape'])
        if 'pad_shape' in meta:
            return tuple(meta['pad_shape'][:2])
        return tuple(meta['img_shape'])

    def _full_resolution_fn(self, size: tuple, meta: dict):
        """The stock chain from head logits to ``ori_shape``, per class.

        Args:
            size (tuple): ``(H, W)`` of the first resize (the input size).
            meta (dict): The sample's metainfo (padding, flip,
                ``ori_shape``).

        Returns:
            Callable: ``[n, h, w]`` logits → ``[n, H', W']``, the same ops
            on the same memory layout as the decode head's
            ``predict_by_feat`` and :meth:`postprocess_result`.
        """
        align_corners = self.align_corners
        crop = flip = None
        second = None
        if meta:
            left, right, top, bottom = meta.get(
                'img_padding_size', meta.get('padding_size', [0] * 4))
            crop = (top, size[0] - bottom, left, size[1] - right)
            if meta.get('flip', None):
                direction = meta.get('flip_direction', None)
                if direction not in ('horizontal', 'vertical'):
                    raise ValueError(
                        f'flip_direction must be horizontal or vertical, '
                        f'got {direction!r}.')
                flip = (3, ) if direction == 'horizontal' else (2, )
            ori = tuple(meta['ori_shape'][:2])
            if (crop[1] - crop[0], crop[3] - crop[2]) != ori:
                second = ori

        def to_full(logits: Tensor) -> Tensor:
            out = logits[None].contiguous(memory_format=torch.channels_last)
            out = resize(out,
                         size=size,
                         mode='bilinear',
                         align_corners=align_corners)
            if crop is not None:
                out = out[:, :, crop[0]:crop[1], crop[2]:crop[3]]
            if flip is not None:
                out = out.flip(dims=flip)
            if second is not None:
                out = resize(out,
                             size=second,
                             mode='bilinear',
                             align_corners=align_corners,
                             warning=False)
            return out[0]

        return to_full

    def postprocess_result(self, seg_logits: Tensor, data_samples=None):
        """The stock post-processing, cheaper for large vocabularies.

        Same steps as :meth:`BaseSegmentor.postprocess_result` (remove
        padding, undo flips, resize to ``ori_shape``, argmax or sigmoid
        threshold), but the resize is skipped when it is the identity and the
        memory layout of the logits is kept (channels-last from the head), so
        the argmax over ``K`` classes reads contiguous memory.
        """
        batch_size, channels, height, width = seg_logits.shape
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i in range(batch_size):
            logits = seg_logits[i:i + 1]
            if not only_prediction:
                meta = data_samples[i].metainfo
                left, right, top, bottom = meta.get(
                    'img_padding_size', meta.get('padding_size', [0] * 4))
                logits = logits[:, :, top:height - bottom, left:width - right]
                if meta.get('flip', None):
                    direction = meta.get('flip_direction', None)
                    if direction not in ('horizontal', 'vertical'):
                        raise ValueError(
                            f'flip_direction must be horizontal or vertical, '
                            f'got {direction!r}.')
                    logits = logits.flip(
                        dims=(3, ) if direction == 'horizontal' else (2, ))
                size = tuple(meta['ori_shape'][:2])
                if tuple(logits.shape[2:]) != size:
                    logits = resize(logits,
                                    size=size,
                                    mode='bilinear',
                                    align_corners=self.align_corners,
                                    warning=False)
            logits = logits.squeeze(0)
            if channels > 1:
                pred = logits.argmax(dim=0, keepdim=True)
            else:
                logits = logits.sigmoid()
                pred = (logits > self.decode_head.threshold).to(logits)
            data_samples[i].set_data({
                'seg_logits': PixelData(data=logits),
                'pred_sem_seg': PixelData(data=pred)
            })
        return data_samples

    def _forward(self, inputs: Tensor, data_samples=None) -> Tensor:
        """Tensor mode (FLOPs counting, export): raw decode-head logits."""
        with self.vocabulary_scope(self._metainfos(inputs, data_samples),
                                   inputs.shape[0]):
            return super()._forward(inputs, data_samples)

    # ------------------------------------------------------------ prompting
    def predict_prompts(self,
                        inputs: Tensor,
                        prompts: Sequence[Union[str, Sequence[str]]],
                        data_samples=None,
                        threshold: Optional[float] = None):
        """One mask per free-text prompt (referring-style segmentation).

        Binary heads (``out_channels=1``) score each prompt on its own
        (sigmoid > ``threshold``, masks may overlap); softmax heads make the
        prompts compete (plus the learned background when the head has one),
        and pixel ``p`` of mask ``i`` is set where prompt ``i`` wins.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            prompts (list[str | list[str]]): Free-text phrases ("polyp",
                "left kidney"); an entry may be a list of synonyms.
            data_samples (list[SegDataSample], optional): Image metainfo.
            threshold (float, optional): Binary threshold; defaults to the
                decode head's ``threshold``.

        Returns:
            list[SegDataSample]: ``pred_prompt_masks`` (bool ``[P, H, W]``,
            original image size), ``prompt_scores`` (``[P, H, W]``
            probabilities) and ``prompts`` in the metainfo.
        """
        prompts = Vocabulary.parse(list(prompts)).entries
        head = self.decode_head
        if getattr(head, 'binary', False):
            thr = head.threshold if threshold is None else threshold
            scores = []
            for prompt in prompts:
                with self.temporary_vocabulary([prompt]):
                    results = self._postprocessed(inputs, data_samples)
                scores.append([r.seg_logits.data for r in results])
            per_image = [
                torch.cat([s[i] for s in scores])
                for i in range(len(scores[0]))
            ]
            masks = [s > thr for s in per_image]
        else:
            vocab = list(prompts)
            slots = list(range(len(vocab)))
            if getattr(head, 'learnable_background', False):
                index = head.background_index % (len(vocab) + 1)
                vocab.insert(index, 'background')
                slots = [s if s < index else s + 1 for s in slots]
            with self.temporary_vocabulary(Vocabulary(vocab)):
                results = self._postprocessed(inputs, data_samples)
            per_image, masks = [], []
            for r in results:
                probs = r.seg_logits.data.softmax(dim=0)
                winner = probs.argmax(dim=0)
                per_image.append(probs[slots])
                masks.append(torch.stack([winner == s for s in slots]))
        for result, score, mask in zip(results, per_image, masks):
            result.set_metainfo(dict(prompts=tuple(prompts)))
            result.pred_prompt_masks = PixelData(data=mask)
            result.prompt_scores = PixelData(data=score)
        return results

    @torch.no_grad()
    def pixel_text_similarity(
            self, inputs: Tensor,
            prompts: Sequence[Union[str, Sequence[str]]]) -> Tensor:
        """Cosine similarity of every pixel embedding with every prompt.

        The pixel embeddings are the decode head's classifier embeddings (the
        features its ``conv_seg`` scores), so the maps show what the head
        compares with the text (interpretability).

        Args:
            inputs (Tensor): Preprocessed images ``[B, 3, H, W]``.
            prompts (list[str | list[str]]): Free-text prompts.

        Returns:
            Tensor: ``[B, P, H, W]`` similarities in ``[-1, 1]``.
        """
        prompts = Vocabulary.parse(list(prompts)).entries
        head = self.decode_head
        vocab = BatchVocabulary([Vocabulary(prompts)] * inputs.shape[0],
                                'override')
        feats, text_embeds, _ = self.encode_batch(self.backbone(inputs), vocab)
        captured = {}
        handle = head.conv_seg.register_forward_hook(
            lambda module, args, out: captured.update(x=args[0]))
        if getattr(head, 'binary', False):
            run_embeds = text_embeds[:, :1]
        elif text_embeds.shape[1] == 1:
            run_embeds = text_embeds.expand(-1, 2, -1)
        else:
            run_embeds = text_embeds
        try:
            with head.vocabulary(run_embeds):
                head.forward(feats)
        finally:
            handle.remove()
        pixels = head.conv_seg.embed(captured['x'])
        pixels = nn.functional.normalize(pixels, dim=1)
        similarity = torch.einsum('bdhw,bkd->bkhw', pixels,
                                  text_embeds.to(pixels.dtype))
        return nn.functional.interpolate(similarity,
                                         size=inputs.shape[2:],
                                         mode='bilinear',
                                         align_corners=self.align_corners)

    def _postprocessed(self, inputs: Tensor, data_samples):
        """Logits resized to the original images (no label mapping)."""
        samples = None
        if data_samples is not None:
            samples = [s.clone() for s in data_samples]
        return EncoderDecoder.predict(self, inputs, samples)
