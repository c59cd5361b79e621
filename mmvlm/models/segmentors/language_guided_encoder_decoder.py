"""EncoderDecoder whose classes are defined by text."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import DATASETS as SEG_DATASET_REGISTRY
from mmseg.structures import SegDataSample
from mmseg.utils import add_prefix

from mmvlm.models.layers import LanguageGuidedHeadMixin
from mmvlm.registry import SEG_MODELS

Vocabulary = Tuple[Union[str, Tuple[str, ...]], ...]
VocabularySpec = Union[None, str, Sequence, dict]


def _is_padding(entry) -> bool:
    return isinstance(entry, str) and entry == ''


def parse_vocabulary(
        spec: VocabularySpec) -> Optional[Tuple[Vocabulary, Tuple[int, ...]]]:
    """Turn a vocabulary spec into ``(texts, label_ids)``.

    Args:
        spec: One of

            - None: no vocabulary;
            - a list of class names / prompts (an entry may be a tuple of
              synonyms), label ids ``0..K-1``;
            - the registered name of an mmseg dataset (``'ADE20KDataset'``):
              its ``METAINFO['prompts']`` if present, else its classes;
            - ``dict(texts=... | dataset=..., label_ids=None)``: with
              ``label_ids`` and a dataset, the subset of those class ids
              (open-vocabulary training on seen classes), else the dataset
              class id of each given text.

    Returns:
        tuple | None: ``(texts, label_ids)``.
    """
    if spec is None:
        return None
    label_ids = None
    if isinstance(spec, str):
        texts = _dataset_texts(spec)
    elif isinstance(spec, dict):
        unknown = set(spec) - {'texts', 'dataset', 'label_ids'}
        if unknown or ('texts' in spec) == ('dataset' in spec):
            raise ValueError(
                'A vocabulary dict takes exactly one of `texts` / `dataset` '
                f'and optionally `label_ids`; got keys {sorted(spec)}.')
        label_ids = spec.get('label_ids')
        if 'dataset' in spec:
            texts = _dataset_texts(spec['dataset'])
            if label_ids is not None:
                for i in label_ids:
                    if not 0 <= int(i) < len(texts):
                        raise ValueError(
                            f'label id {i} is not a class of '
                            f'{spec["dataset"]} (0..{len(texts) - 1}).')
                texts = [texts[int(i)] for i in label_ids]
        else:
            texts = spec['texts']
    elif isinstance(spec, (list, tuple)):
        texts = spec
    else:
        raise TypeError('vocabulary must be a list of names, a dataset name '
                        f'or a dict, got {type(spec).__name__}.')
    texts = tuple(t if isinstance(t, str) else tuple(t) for t in texts)
    if len(texts) == 0:
        raise ValueError('The vocabulary is empty: give at least one class '
                         'name or prompt.')
    if label_ids is None:
        label_ids = tuple(range(len(texts)))
    label_ids = tuple(int(i) for i in label_ids)
    if len(label_ids) != len(texts):
        raise ValueError(f'{len(label_ids)} label_ids for {len(texts)} '
                         'vocabulary entries.')
    return texts, label_ids


def _dataset_texts(name: str) -> list:
    """Prompts (or class names) of a registered mmseg dataset."""
    dataset_cls = SEG_DATASET_REGISTRY.get(name)
    if dataset_cls is None:
        raise KeyError(
            f'vocabulary={name!r} is neither a list of class names nor a '
            'dataset registered in mmseg DATASETS (import mmvlm, or give '
            'the class names as a list).')
    metainfo = getattr(dataset_cls, 'METAINFO', {})
    texts = metainfo.get('prompts') or metainfo.get('classes')
    if not texts:
        raise ValueError(f'{name}.METAINFO has no classes to use as a '
                         'vocabulary.')
    return list(texts)


@SEG_MODELS.register_module()
class LanguageGuidedEncoderDecoder(EncoderDecoder):
    """An :class:`EncoderDecoder` whose classes are text.

    backbone → ``LLMPrefixNeck(feats, texts)`` → decode head (and auxiliary
    heads) run inside ``head.vocabulary(text_embeds, text_mask)``. The
    vocabulary of a batch comes, in this order, from

    1. the data samples' metainfo (``text``, ``text_mask``,
       ``text_label_ids``; docs/design.md §2): ``gt_sem_seg`` values index
       into ``text`` and predictions are mapped back to dataset ids through
       ``text_label_ids``;
    2. the model's ``train_vocabulary`` (training) / ``vocabulary``: gt values
       are dataset class ids, mapped to vocabulary indices through the
       vocabulary's ``label_ids`` (ids outside it become ``ignore_index``),
       and predictions are mapped back, so the stock ``IoUMetric`` works.

    Args:
        backbone (dict): Backbone config.
        decode_head (dict): A language-guided decode head config.
        neck (dict): ``LLMPrefixNeck`` config (it owns the language model).
        vocabulary (list | str | dict, optional): Test-time / default
            vocabulary; see :func:`parse_vocabulary`.
        train_vocabulary (list | str | dict, optional): Vocabulary for
            training batches whose samples carry no ``text`` (defaults to
            ``vocabulary``), e.g. the seen classes of an open-vocabulary
            split.
        auxiliary_head (dict | list, optional): Stock or language-guided
            auxiliary heads.
        train_cfg, test_cfg, data_preprocessor, pretrained, init_cfg: As in
            :class:`EncoderDecoder`.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: dict,
                 vocabulary: VocabularySpec = None,
                 train_vocabulary: VocabularySpec = None,
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
        self.vocabulary = parse_vocabulary(vocabulary)
        self.train_vocabulary = parse_vocabulary(
            train_vocabulary) or self.vocabulary
        self._vocabulary_override: Optional[Tuple] = None

    # ---------------------------------------------------------- vocabulary
    @contextmanager
    def override_vocabulary(self,
                            vocabulary: VocabularySpec) -> Iterator[None]:
        """Use ``vocabulary`` for every batch inside the block.

        It takes precedence over the samples' ``text`` (prompting).
        """
        saved = self._vocabulary_override
        self._vocabulary_override = parse_vocabulary(vocabulary)
        try:
            yield
        finally:
            self._vocabulary_override = saved

    def batch_vocabulary(self,
                         batch_img_metas: List[dict],
                         training: bool = False) -> Tuple:
        """The vocabulary of a batch.

        Args:
            batch_img_metas (list[dict]): Metainfo of the images.
            training (bool): Prefer ``train_vocabulary``.

        Returns:
            tuple: ``(texts, label_ids, from_samples)``: ``texts`` is one
            vocabulary (shared) or a list of them (one per image),
            ``label_ids`` likewise, ``from_samples`` whether they came from
            the data samples.
        """
        if self._vocabulary_override is not None:
            texts, ids = self._vocabulary_override
            return texts, ids, False
        has_text = ['text' in meta for meta in batch_img_metas]
        if any(has_text):
            if not all(has_text):
                raise ValueError('Some samples of the batch carry a `text` '
                                 'vocabulary and others do not.')
            return self._sample_vocabularies(batch_img_metas) + (True, )
        fallback = self.train_vocabulary if training else self.vocabulary
        if fallback is None:
            raise ValueError(
                'No vocabulary: the data samples carry no `text` metainfo and '
                'the model has no `vocabulary`. Add mmvlm\'s text transform '
                'to the pipeline (texts packed by PackSegInputs meta_keys), '
                "or set model.vocabulary (class names, or a dataset name "
                "such as 'ADE20KDataset').")
        texts, ids = fallback
        return texts, ids, False

    @staticmethod
    def _sample_vocabularies(batch_img_metas: List[dict]) -> Tuple:
        """Per-image vocabularies from metainfo, padding dropped."""
        all_texts, all_ids = [], []
        for meta in batch_img_metas:
            text = tuple(meta['text'])
            mask = meta.get('text_mask')
            if mask is None:
                mask = [not _is_padding(t) for t in text]
            valid = [t for t, m in zip(text, mask) if m]
            if len(valid) == 0:
                raise ValueError(
                    f'Image {meta.get("img_path", "?")} has an empty '
                    'vocabulary (no valid `text` entry).')
            ids = meta.get('text_label_ids')
            ids = tuple(range(len(valid))) if ids is None else tuple(
                int(i) for i, m in zip(ids, mask) if m)
            all_texts.append(tuple(valid))
            all_ids.append(ids)
        if all(t == all_texts[0] for t in all_texts) and all(i == all_ids[0]
                                                             for i in all_ids):
            return all_texts[0], all_ids[0]
        return all_texts, all_ids

    # ------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor, texts=None) -> Tuple:
        """Backbone, then the text neck.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            texts: A shared vocabulary or one per image.

        Returns:
            tuple: ``(feats, text_embeds [B, K, D], text_mask [B, K])``.
        """
        if texts is None:
            raise ValueError('LanguageGuidedEncoderDecoder.extract_feat needs '
                             'the vocabulary texts.')
        x = self.backbone(inputs)
        # a list holds one vocabulary per image, a tuple is shared
        return self.neck(x, texts, per_image=isinstance(texts, list))

    def _run_heads(self, heads: Sequence[nn.Module], text_embeds: Tensor,
                   text_mask: Tensor, fn):
        """Call ``fn(head)`` for each head inside its vocabulary."""
        results = []
        for head in heads:
            if isinstance(head, LanguageGuidedHeadMixin):
                with head.vocabulary(text_embeds, text_mask):
                    results.append(fn(head))
            else:
                results.append(fn(head))
        return results

    # ---------------------------------------------------------------- loss
    def loss(self, inputs: Tensor, data_samples) -> dict:
        """Losses of the decode head and auxiliary heads.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            data_samples (list[SegDataSample]): Samples with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: Loss components.
        """
        metas = [s.metainfo for s in data_samples]
        texts, label_ids, from_samples = self.batch_vocabulary(metas,
                                                               training=True)
        if not from_samples:
            data_samples = self._remap_gt(data_samples, label_ids)
        feats, text_embeds, text_mask = self.extract_feat(inputs, texts)
        losses = dict()
        decode, = self._run_heads(
            [self.decode_head], text_embeds, text_mask,
            lambda h: h.loss(feats, data_samples, self.train_cfg))
        losses.update(add_prefix(decode, 'decode'))
        if self.with_auxiliary_head:
            heads = self.auxiliary_head if isinstance(
                self.auxiliary_head, nn.ModuleList) else [self.auxiliary_head]
            aux = self._run_heads(
                heads, text_embeds, text_mask,
                lambda h: h.loss(feats, data_samples, self.train_cfg))
            if isinstance(self.auxiliary_head, nn.ModuleList):
                for idx, loss_aux in enumerate(aux):
                    losses.update(add_prefix(loss_aux, f'aux_{idx}'))
            else:
                losses.update(add_prefix(aux[0], 'aux'))
        return losses

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
        texts, _, _ = self.batch_vocabulary(batch_img_metas)
        feats, text_embeds, text_mask = self.extract_feat(inputs, texts)
        logits, = self._run_heads(
            [self.decode_head], text_embeds, text_mask,
            lambda h: h.predict(feats, batch_img_metas, self.test_cfg))
        return logits

    def _num_outputs(self, texts) -> int:
        if getattr(self.decode_head, 'binary', False):
            return 1
        if isinstance(texts, list):
            return max(len(t) for t in texts)
        return len(texts)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Whole or slide inference with the batch's vocabulary size."""
        texts, _, _ = self.batch_vocabulary(batch_img_metas)
        saved = self.out_channels, self.num_classes
        self.out_channels = self._num_outputs(texts)
        self.num_classes = max(self.out_channels, 2)
        try:
            return super().inference(inputs, batch_img_metas)
        finally:
            self.out_channels, self.num_classes = saved

    def predict(self, inputs: Tensor, data_samples=None):
        """Predict label maps in dataset class ids.

        Args:
            inputs (Tensor): Images ``[B, 3, H, W]``.
            data_samples (list[SegDataSample], optional): Samples with
                metainfo.

        Returns:
            list[SegDataSample]: With ``pred_sem_seg`` (dataset label ids)
            and ``seg_logits`` (vocabulary order).
        """
        if data_samples is not None:
            metas = [s.metainfo for s in data_samples]
        else:
            metas = [
                dict(ori_shape=inputs.shape[2:],
                     img_shape=inputs.shape[2:],
                     pad_shape=inputs.shape[2:],
                     padding_size=[0, 0, 0, 0])
            ] * inputs.shape[0]
        texts, label_ids, _ = self.batch_vocabulary(metas)
        results = super().predict(inputs, data_samples)
        binary = getattr(self.decode_head, 'binary', False)
        for i, result in enumerate(results):
            ids = label_ids[i] if isinstance(label_ids, list) else label_ids
            if binary and len(ids) == 1:
                continue  # 0 / 1 = outside / inside the one prompt
            pred = result.pred_sem_seg.data
            lut = torch.tensor(ids, dtype=torch.long, device=pred.device)
            mapped = lut[pred.long().clamp(max=len(ids) - 1)]
            mapped[mapped < 0] = self.decode_head.ignore_index
            result.pred_sem_seg = PixelData(data=mapped)
        return results

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
        if data_samples is not None:
            metas = [s.metainfo for s in data_samples]
        else:
            metas = [{} for _ in range(inputs.shape[0])]
        texts, _, _ = self.batch_vocabulary(metas)
        feats, text_embeds, text_mask = self.extract_feat(inputs, texts)
        out, = self._run_heads([self.decode_head], text_embeds, text_mask,
                               lambda h: h.forward(feats))
        return out

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
        prompts = parse_vocabulary(list(prompts))[0]
        head = self.decode_head
        if getattr(head, 'binary', False):
            thr = head.threshold if threshold is None else threshold
            scores = []
            for prompt in prompts:
                with self.override_vocabulary([prompt]):
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
            with self.override_vocabulary(vocab):
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
        prompts = parse_vocabulary(list(prompts))[0]
        head = self.decode_head
        feats, text_embeds, _ = self.extract_feat(inputs, prompts)
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
