"""The one mixin that makes a stock mmdet / mmseg head language-guided."""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch.nn as nn
from torch import Tensor

from .contrastive_classifier import ContrastiveClassifier


class LanguageGuidedHeadMixin:
    """Replace a stock head's class layer by a :class:`ContrastiveClassifier`.

    A language-guided head is the stock head plus this mixin and one class
    attribute naming the layer to replace::

        @DET_MODELS.register_module()
        class LanguageGuidedATSSHead(LanguageGuidedHeadMixin, ATSSHead):
            classifier_name = 'atss_cls'

    The stock ``forward`` / ``loss`` / ``predict`` code runs unchanged: the
    replaced layer returns logits over the current vocabulary, and
    :meth:`vocabulary` sets ``num_classes`` (and ``cls_out_channels`` /
    ``out_channels``) to the vocabulary size ``K`` while the head runs, so
    target assignment, sigmoid/focal and softmax losses and post-processing
    all work with a per-batch number of classes.

    Args:
        embed_dims (int): Width of the text embeddings given by the neck.
        classifier (dict, optional): Extra keyword arguments of
            :class:`ContrastiveClassifier` (e.g. ``bias_prior_prob``,
            ``init_logit_scale``, ``background``).
        *args, **kwargs: Arguments of the stock head.
    """

    #: Attribute of the stock head holding its classification conv / linear.
    classifier_name: str = ''

    def __init__(self,
                 *args,
                 embed_dims: int = 256,
                 classifier: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.classifier_name:
            raise TypeError(f'{type(self).__name__} must set classifier_name '
                            'to the attribute of its classification layer.')
        self.embed_dims = embed_dims
        self.closed_set_num_classes = self.num_classes
        self._build_classifier(dict(classifier or {}))

    def _build_classifier(self, cfg: dict) -> None:
        """Swap the stock class layer for a contrastive classifier."""
        stock = getattr(self, self.classifier_name, None)
        if isinstance(stock, nn.Linear):
            cfg.update(in_channels=stock.in_features, linear=True)
        elif isinstance(stock, nn.Conv2d):
            cfg.update(
                in_channels=stock.in_channels,
                num_anchors=getattr(self, 'num_base_priors', 1))
            # The stock kernel unless the config asks for another one
            # (e.g. a cheaper 1x1 projection, as in GLIP).
            cfg.setdefault('kernel_size', stock.kernel_size[0])
        else:
            raise TypeError(
                f'{type(self).__name__}.{self.classifier_name} is '
                f'{type(stock).__name__}; a language-guided head replaces an '
                'nn.Conv2d or nn.Linear classification layer.')
        cfg.setdefault('embed_dims', self.embed_dims)
        setattr(self, self.classifier_name, ContrastiveClassifier(**cfg))

    def init_weights(self) -> None:
        """Stock initialisation, then an unbiased classifier projection.

        Stock ``init_cfg`` overrides name the replaced layer (e.g. a Normal
        init with ``bias_prob=0.01`` on ``atss_cls``). On the classifier that
        prior bias belongs to its scalar ``bias``; on the visual projection it
        would point every embedding the same way, so it is reset to zero.
        """
        super().init_weights()
        embed = self.classifier.embed
        embed.reset_parameters()
        if embed.bias is not None:
            nn.init.zeros_(embed.bias)

    @property
    def classifier(self) -> ContrastiveClassifier:
        """The contrastive classifier that replaced the stock class layer."""
        return getattr(self, self.classifier_name)

    def _set_num_classes(self, num_classes: int) -> None:
        """Point the stock head's class-count attributes at ``num_classes``.

        Override for heads with other attributes or conventions.
        """
        self.num_classes = num_classes
        if hasattr(self, 'cls_out_channels'):  # mmdet dense heads
            sigmoid = getattr(self, 'use_sigmoid_cls', True)
            self.cls_out_channels = num_classes if sigmoid else num_classes + 1

    @contextmanager
    def vocabulary(self,
                   text_embeds: Tensor,
                   text_mask: Optional[Tensor] = None,
                   batch_index: Optional[Tensor] = None) -> Iterator[None]:
        """Run the head against a vocabulary.

        Args:
            text_embeds (Tensor): ``[K, D]`` or ``[B, K, D]`` L2-normalised
                class embeddings from the neck.
            text_mask (Tensor, optional): Bool ``[K]`` / ``[B, K]`` validity
                of each slot (False for padding).
            batch_index (Tensor, optional): Image index per RoI (RoI heads).

        Yields:
            None: inside the block, the head scores against the vocabulary.
        """
        saved = {
            name: getattr(self, name)
            for name in ('num_classes', 'cls_out_channels', 'out_channels')
            if hasattr(self, name)
        }
        self.classifier.set_text(text_embeds, text_mask, batch_index)
        self._set_num_classes(text_embeds.shape[-2])
        try:
            yield
        finally:
            self.classifier.clear_text()
            for name, value in saved.items():
                setattr(self, name, value)

    def bake_vocabulary(self, text_embeds: Tensor) -> None:
        """Fix a ``[K, D]`` vocabulary into the head (LM-free inference).

        Args:
            text_embeds (Tensor): L2-normalised class embeddings.
        """
        self.classifier.bake(text_embeds)
        self._set_num_classes(text_embeds.shape[0])
