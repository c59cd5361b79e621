"""The one mixin that makes a stock mmdet / mmseg head language-guided."""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmvlm.models.layers.contrastive_classifier import ContrastiveClassifier


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
            ``init_logit_scale``, ``background``, ``warm_start``: initialise
            it from a loaded stock checkpoint's class layer, see
            ``docs/stock_checkpoints.md``).
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
        #: Stock tensors of the replaced layer(s) found by the last
        #: ``load_state_dict`` (full key → tensor); see
        #: :meth:`take_stock_tensors`.
        self.stock_tensors: Dict[str, Tensor] = {}

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

    # ------------------------------------------------ stock checkpoints
    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Keep the stock class layer's tensors out of the classifier.

        A stock checkpoint's ``<classifier_name>.weight`` / ``.bias`` (e.g.
        ``atss_cls.bias`` with 80 outputs) have no place in the contrastive
        classifier (whose ``bias`` is one learnable scalar): they are
        taken out of the state dict into :attr:`stock_tensors`, where the
        model reports them and, with ``classifier=dict(warm_start=True)``,
        initialises the classifier from them. A language-guided
        checkpoint loads as before.
        """
        self.stock_tensors = self.take_stock_tensors(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def take_stock_tensors(self, state_dict: dict,
                           prefix: str) -> Dict[str, Tensor]:
        """Pop the stock tensors this head cannot load from ``state_dict``.

        The layout is read per key: the classifier has no ``weight`` of its
        own (its projection is ``embed.weight``), so a ``weight`` under the
        replaced layer's name, and the ``bias`` beside it, are stock.

        Args:
            state_dict (dict): The state dict being loaded (changed in
                place).
            prefix (str): This head's key prefix.

        Returns:
            dict[str, Tensor]: The stock tensors by full key.
        """
        name = f'{prefix}{self.classifier_name}.'
        taken = {}
        if name + 'weight' not in state_dict:
            return taken  # a language-guided checkpoint
        taken[name + 'weight'] = state_dict.pop(name + 'weight')
        if name + 'bias' in state_dict:
            taken[name + 'bias'] = state_dict.pop(name + 'bias')
        return taken

    def stock_class_layer(self) -> tuple:
        """``(weight, bias)`` of the stock class layer in
        :attr:`stock_tensors` (``(None, None)`` when none was loaded)."""
        for key, value in self.stock_tensors.items():
            if key.endswith(f'{self.classifier_name}.weight'):
                bias = self.stock_tensors.get(key[:-len('weight')] + 'bias')
                return value, bias
        return None, None

    @torch.no_grad()
    def warm_start_from_stock(self, text_embeds: Tensor) -> Dict[str, str]:
        """Initialise the classifier from the loaded stock class layer.

        Scored against ``text_embeds`` (the stock class names' embeddings,
        in stock class order) the head then reproduces the stock logits
        (:meth:`ContrastiveClassifier.init_from_stock_layer`).

        Args:
            text_embeds (Tensor): ``[K, D]`` L2-normalised embeddings of the
                stock model's class names.

        Returns:
            dict[str, str]: How each stock tensor of :attr:`stock_tensors`
            was used, by key.
        """
        weight, bias = self.stock_class_layer()
        if weight is None:
            raise RuntimeError(
                f'{type(self).__name__}: no stock class layer was loaded '
                f'({self.classifier_name}.weight); load a stock checkpoint '
                'first.')
        classifier = self.classifier
        device = classifier.embed.weight.device
        with self.vocabulary(text_embeds.to(device)):
            class_embeds, _ = classifier.class_embeddings()
            if class_embeds.dim() == 3:
                class_embeds = class_embeds[0]
            classifier.init_from_stock_layer(
                weight.to(device), None if bias is None else bias.to(device),
                class_embeds)
        return {
            key: 'solved into the contrastive classifier'
            for key in self.stock_tensors
        }

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
