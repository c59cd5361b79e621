"""An image classifier whose vision side writes a prefix for a frozen LM
(the "Frozen" approach, F(x) = M(V(x))).

The backbone's last feature map is attention-pooled into ``V`` visual
tokens in the LM's input-embedding space (:class:`VisualPrefixProjector`);
the decoder-only LM never trains. Two ways to classify:

- ``mode='embedding'``: ``[BOS] [visual tokens]`` run through the LM, its
  pooled output (projected, normalised) is matched against the class-name
  embeddings of the same LM (:meth:`HFTextEncoder.encode_vocabulary`);
  trained with a softmax over the vocabulary; the projection and the
  vision side learn.
- ``mode='generative'``: every class name is scored by the LM's
  log-likelihood after ``[visual tokens] [prompt]``
  (:class:`FrozenPrefixLM`, one prefix run per image, its key/value cache
  reused for every name); trained with the LM's next-token loss on the
  target name; only the vision side and the projector learn.

:meth:`FrozenPrefixClassifier.generate` writes free text from the prefix.
"""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import Tensor

from mmvlm.models.layers.frozen_visual_prefix import FrozenPrefixLM
from mmvlm.models.layers.one_element_parameters import (
    accept_scalar_checkpoints, one_element)
from mmvlm.models.layers.visual_prefix import VisualPrefixProjector
from mmvlm.registry import CLS_MODELS
from mmvlm.structures import (Vocabulary, VocabularyLike,
                              select_batch_vocabulary)
from .label_mapping import (dataset_vocabulary, entry_labels_to_dataset,
                            entry_scores_to_dataset, single_label_targets)

MODES = ('embedding', 'generative')


@CLS_MODELS.register_module()
class FrozenPrefixClassifier(ImageClassifier):
    """Classify (and describe) images through a frozen causal LM.

    Args:
        backbone (dict): mmpretrain backbone config; its last output map
            feeds the visual prefix.
        text_encoder (dict): :class:`HFTextEncoder` config of a decoder-only
            LM (``name_or_path='smollm2-135m'``, or a tiny ``hf_config`` in
            tests). ``embed_dims`` is the matching width of the embedding
            mode (None: the LM width); the LM stays frozen.
        visual_prefix (dict): ``in_channels`` (backbone output channels),
            ``num_visual_tokens`` (default 4), ``num_heads`` of
            :class:`VisualPrefixProjector`.
        mode (str): ``'generative'`` (default) or ``'embedding'``.
        prompt (str): Text after the visual tokens in generative mode.
            Default ``'This is a photo of'``.
        normalize (str): Generative class score, ``'sum'`` (log-likelihood
            of the name) or ``'mean'`` (per token).
        append_eos (bool): Score the EOS after a name. Default True.
        names_per_chunk (int): Names per LM call when scoring.
        init_logit_scale (float): Embedding mode: initial log similarity
            scale. Default ``log(1 / 0.07)``.
        center_embeddings (bool): Embedding mode: subtract the mean of
            the vocabulary's (normalised) name embeddings from the name and
            image embeddings before the cosine. A decoder-only LM's pooled
            states share one large component (SmolLM2-135M: mean cosine
            0.73 between different names, MiniLM 0.17), so uncentred all
            names score alike. Default False.
        vocabulary (VocabularyLike, optional): Classes scored at inference
            (default: ``dataset_meta['classes']``; an mmpretrain dataset
            name such as ``'ImageNet'`` gives its classes; mmengine's
            runner gives models no dataset classes, so configs name them);
            an entry may be a tuple
            of synonyms (generative: the best synonym's score; training
            uses the first).
        vocabulary_label_ids (Sequence[int], optional): Dataset id of each
            ``vocabulary`` entry.
        train_vocabulary (VocabularyLike, optional): Classes of training
            batches (default: ``vocabulary``).
        data_preprocessor (dict, optional): As ``ImageClassifier``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 text_encoder: dict,
                 visual_prefix: dict,
                 mode: str = 'generative',
                 prompt: str = 'This is a photo of',
                 normalize: str = 'sum',
                 append_eos: bool = True,
                 names_per_chunk: int = 64,
                 init_logit_scale: float = math.log(1 / 0.07),
                 center_embeddings: bool = False,
                 vocabulary: Optional[VocabularyLike] = None,
                 vocabulary_label_ids: Optional[Sequence[int]] = None,
                 train_vocabulary: Optional[VocabularyLike] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}.')
        super().__init__(backbone=backbone,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.mode = mode
        self.center_embeddings = bool(center_embeddings)
        self.text_encoder = PRETRAIN_MODELS.build(text_encoder)
        if not self.text_encoder.is_decoder_only:
            raise ValueError(
                'FrozenPrefixClassifier needs a decoder-only (causal) LM; '
                f'{self.text_encoder.model_type} is an encoder. Use '
                "name_or_path='smollm2-135m' (or another causal LM), or "
                'LanguageGuidedImageClassifier for encoders like MiniLM.')
        if not self.text_encoder.freeze_lm:
            raise ValueError('The Frozen approach keeps the LM frozen: set '
                             'text_encoder.freeze_lm=True.')
        prefix_cfg = dict(visual_prefix)
        if 'in_channels' not in prefix_cfg:
            raise ValueError(
                'visual_prefix needs in_channels: the channels of the '
                "backbone's last output (512 for ResNet-18).")
        prefix_cfg.setdefault('init_std',
                              self.text_encoder.input_embedding_std())
        self.visual_projector = VisualPrefixProjector(
            lm_dims=self.text_encoder.hidden_size, **prefix_cfg)
        self.prefix_lm = FrozenPrefixLM(
            self.text_encoder.lm,
            self.text_encoder.tokenizer,
            prompt=prompt,
            append_eos=append_eos,
            normalize=normalize,
            names_per_chunk=names_per_chunk) if mode == 'generative' else None
        # one element, not 0-d (FSDP refuses 0-d parameters); a 0-d
        # ``logit_scale`` of an older checkpoint is reshaped on load
        self.logit_scale = nn.Parameter(one_element(init_logit_scale))
        accept_scalar_checkpoints(self, ('logit_scale', ))
        self._configured_vocabulary = (Vocabulary.parse(
            dataset_vocabulary(vocabulary), vocabulary_label_ids)
                                       if vocabulary is not None else None)
        self._train_vocabulary = (Vocabulary.parse(
            dataset_vocabulary(train_vocabulary))
                                  if train_vocabulary is not None else None)
        self._vocabulary_override: Optional[Vocabulary] = None

    # ------------------------------------------------------- vocabulary
    def set_vocabulary(self,
                       vocabulary: Optional[VocabularyLike],
                       label_ids: Optional[Sequence[int]] = None) -> None:
        """Set (or clear, with None) the vocabulary scored at inference.

        Args:
            vocabulary (VocabularyLike | None): Any spelling of
                :meth:`Vocabulary.parse`; None clears.
            label_ids (Sequence[int], optional): Dataset id of each entry.
        """
        self._vocabulary_override = (None if vocabulary is None else
                                     Vocabulary.parse(vocabulary, label_ids))

    def batch_vocabulary(self, training: bool) -> Vocabulary:
        """The vocabulary of a batch: the override (inference), else
        ``train_vocabulary`` (training) / ``vocabulary``, else the dataset
        classes."""
        configured = self._configured_vocabulary
        if training and self._train_vocabulary is not None:
            configured = self._train_vocabulary
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes')
        vocab = select_batch_vocabulary([],
                                        1,
                                        training=training,
                                        override=self._vocabulary_override,
                                        configured=configured,
                                        dataset_classes=classes,
                                        use_samples=False,
                                        owner=type(self).__name__)
        return vocab.vocabularies[0]

    # ------------------------------------------------------- features
    def visual_tokens(self, inputs: Tensor) -> Tensor:
        """``[B, V, H]`` visual tokens of preprocessed images."""
        feats = self.backbone(inputs)
        feat = feats[-1] if isinstance(feats, (tuple, list)) else feats
        return self.visual_projector(feat)

    def extract_feat(self, inputs: Tensor, stage: str = 'neck') -> Tensor:
        """The visual tokens ``[B, V, H]`` (any ``stage``)."""
        return self.visual_tokens(inputs)

    def class_logits(self, tokens: Tensor, vocab: Vocabulary) -> Tensor:
        """``[B, K]`` scores of the vocabulary's entries.

        Generative: log-likelihood of each entry (its best synonym);
        embedding: scaled cosine similarity.
        """
        entries = list(vocab.entries)
        if self.mode == 'generative':
            names, owners = [], []
            for index, entry in enumerate(entries):
                synonyms = (entry, ) if isinstance(entry, str) else entry
                names += list(synonyms)
                owners += [index] * len(synonyms)
            scores = self.prefix_lm.score_names(tokens, names)
            if len(names) == len(entries):
                return scores
            owner = torch.tensor(owners, device=scores.device)
            out = scores.new_full((scores.shape[0], len(entries)),
                                  float('-inf'))
            return out.scatter_reduce(1, owner.expand_as(scores), scores,
                                      'amax')
        image = F.normalize(self.text_encoder.encode_visual_context(tokens),
                            dim=-1)
        text = self.text_encoder.encode_vocabulary(entries)
        if self.center_embeddings:
            centre = text.mean(dim=0, keepdim=True)
            text = F.normalize(text - centre, dim=-1)
            image = F.normalize(image - centre.to(image.dtype), dim=-1)
        scale = self.logit_scale.exp().clamp(max=100.0)
        return scale * image @ text.t().to(image.dtype)

    # ------------------------------------------------------- stock API
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``'tensor'``: ``[B, K]`` class scores; ``'loss'`` / ``'predict'``
        as the stock classifier."""
        if mode == 'tensor':
            vocab = self.batch_vocabulary(training=False)
            return self.class_logits(self.visual_tokens(inputs), vocab)
        return super().forward(inputs, data_samples, mode)

    def loss(self, inputs: Tensor, data_samples: List[DataSample]) -> dict:
        """Generative: next-token loss of the target name; embedding:
        softmax cross-entropy over the vocabulary.

        Args:
            inputs (Tensor): ``[B, C, H, W]`` images.
            data_samples (list[DataSample]): With ``gt_label`` (one class).

        Returns:
            dict[str, Tensor]: ``loss``.
        """
        vocab = self.batch_vocabulary(training=True)
        labels = torch.cat([s.gt_label for s in data_samples])
        targets = single_label_targets(labels, vocab.label_ids,
                                       type(self).__name__)
        tokens = self.visual_tokens(inputs)
        if self.mode == 'generative':
            names = []
            for index in targets.tolist():
                entry = vocab.entries[index]
                names.append(entry if isinstance(entry, str) else entry[0])
            return dict(loss=self.prefix_lm.loss(tokens, names))
        logits = self.class_logits(tokens, vocab)
        return dict(loss=F.cross_entropy(logits, targets.to(logits.device)))

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """``pred_score``: softmax of the class scores over the vocabulary,
        scattered into the dataset's classes; ``pred_label``: its dataset
        id."""
        vocab = self.batch_vocabulary(training=False)
        logits = self.class_logits(self.visual_tokens(inputs), vocab)
        scores = logits.float().softmax(dim=-1)
        labels = scores.argmax(dim=-1, keepdim=True)
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes')
        num_classes = len(classes) if classes else len(vocab)
        ids = list(vocab.label_ids)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.shape[0])]
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(
                entry_scores_to_dataset(score, ids, num_classes))
            sample.set_field(entry_labels_to_dataset(label, ids), 'pred_label')
        return data_samples

    @torch.no_grad()
    def generate(self,
                 inputs: Tensor,
                 max_new_tokens: int = 16,
                 num_beams: int = 1,
                 prompt: Optional[str] = None) -> List[str]:
        """Free text written by the frozen LM after each image's prefix.

        Args:
            inputs (Tensor): ``[B, C, H, W]`` preprocessed images.
            max_new_tokens (int): Most tokens per image.
            num_beams (int): 1: greedy; more: beam search.
            prompt (str, optional): Another prompt for this call.

        Returns:
            list[str]: One text per image.
        """
        writer = self.prefix_lm or FrozenPrefixLM(self.text_encoder.lm,
                                                  self.text_encoder.tokenizer)
        return writer.generate(self.visual_tokens(inputs),
                               max_new_tokens=max_new_tokens,
                               num_beams=num_beams,
                               prompt=prompt)
