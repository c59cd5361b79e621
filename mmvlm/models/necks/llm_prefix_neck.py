"""The text side of a language-guided detector / segmentor, as a neck."""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from torch import Tensor

from mmvlm.registry import MODELS, REGISTRY_SCOPES, codebase_available
from mmvlm.structures import normalize_vocabulary, split_batch_texts
from ..layers.one_element_parameters import (accept_scalar_checkpoints,
                                             one_element)
from ..layers.visual_prefix import VisualPrefixProjector

VISUAL_PREFIX_MODES = ('per_class', 'per_image')


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple))


@MODELS.register_module()
class LLMPrefixNeck(BaseModule):
    """Wrap a visual neck with a language model that embeds the vocabulary.

    ``forward(inputs, texts)`` runs the inner neck (mmdet / mmseg FPN, or
    none), embeds the batch's vocabulary with the text encoder
    (:class:`HFTextEncoder`), optionally conditions the class embeddings on
    the image (visual prefix) and fuses text into every feature level.

    Args:
        text_encoder (dict): Config of the text encoder, e.g.
            ``dict(type='HFTextEncoder', name_or_path='minilm',
            embed_dims=256)``.
        neck (dict, optional): Config of the inner visual neck. None passes
            the backbone features through.
        fusion (dict, optional): Config of a fusion module
            (``TextGatedFusion`` / ``TextCrossAttentionFusion``) applied to
            every level. ``in_channels`` defaults to the inner neck's
            ``out_channels``; ``embed_dims`` to the text encoder's. With
            ``in_channels`` a list, one module per level is built. None
            leaves the visual features untouched.
        visual_prefix (dict, optional): Image-conditioned class embeddings:
            ``dict(num_visual_tokens=4, mode='per_class', level=-1,
            in_channels=None, num_heads=1, init_gate=0.0)``.
            ``'per_class'`` prepends the visual tokens to every prompt of
            every image (B x K LM sequences per step, never cached);
            ``'per_image'`` runs the LM once per image on the visual tokens
            alone and adds the projected result, through a zero-initialised
            gate, to the cached class embeddings (B sequences per step).
        init_cfg (dict, optional): Initialisation config.

    Every sub-module (text encoder, inner neck, fusion) is built from its
    config with :func:`build_neck_submodule`, i.e. through the registries
    of the config's default scope.
    """

    def __init__(self,
                 text_encoder: dict,
                 neck: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 visual_prefix: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.text_encoder = build_neck_submodule(text_encoder)
        self.embed_dims = self.text_encoder.embed_dims
        self.neck = build_neck_submodule(neck) if neck is not None else None
        self.out_channels = getattr(self.neck, 'out_channels', None)
        self.fusion = self._build_fusion(fusion)
        self.visual_prefix_mode = None
        self.visual_projector = None
        if visual_prefix is not None:
            self._build_visual_prefix(dict(visual_prefix))
        #: ``(stock key, new key)`` of every inner-neck key the last
        #: ``load_state_dict`` mapped from a stock checkpoint.
        self.stock_keys_mapped: List[Tuple[str, str]] = []

    # ------------------------------------------------- stock checkpoints
    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Load the stock neck's keys into the inner neck.

        A stock checkpoint holds the visual neck as ``neck.lateral_convs.*``
        where this neck holds it as ``neck.neck.lateral_convs.*``; those
        keys are renamed (:meth:`map_stock_keys`) before loading, so
        ``load_from``, ``--resume`` and ``init_cfg=dict(type='Pretrained')``
        put every stock FPN weight in place.
        """
        self.stock_keys_mapped = self.map_stock_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def map_stock_keys(self, state_dict: dict,
                       prefix: str) -> List[Tuple[str, str]]:
        """Rename stock inner-neck keys of ``state_dict`` (in place).

        The layout is read per key: a key whose first name below
        ``prefix`` is one of this neck's own children or parameters
        (``text_encoder``, ``neck``, ``fusion``, ...) is already in the
        language-guided layout and stays; a key that the inner neck has
        (``lateral_convs.0.conv.weight``) moves under ``neck.``. A key
        whose new name is already present is left alone.

        Args:
            state_dict (dict): The state dict being loaded.
            prefix (str): This neck's key prefix (``'neck.'``).

        Returns:
            list[tuple[str, str]]: ``(stock key, new key)`` pairs.
        """
        if self.neck is None:
            return []
        own = set(self._modules) | set(self._parameters) | set(self._buffers)
        inner = set(self.neck.state_dict(keep_vars=True))
        mapped = []
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if rest.split('.', 1)[0] in own or rest not in inner:
                continue
            new = f'{prefix}neck.{rest}'
            if new not in state_dict:
                state_dict[new] = state_dict.pop(key)
                mapped.append((key, new))
        return mapped

    # ------------------------------------------------------------ building
    def _build_fusion(self, fusion: Optional[dict]):
        if fusion is None:
            return None
        cfg = copy.deepcopy(dict(fusion))
        dims = cfg.setdefault('embed_dims', self.embed_dims)
        if dims != self.embed_dims:
            raise ValueError(
                f'fusion embed_dims={dims} differs from the text encoder '
                f'embed_dims={self.embed_dims}; drop fusion.embed_dims or set '
                'both to the same width.')
        in_channels = cfg.get('in_channels', self.out_channels)
        if in_channels is None:
            raise ValueError(
                'fusion needs in_channels (the channels of each feature '
                'level): set fusion.in_channels, or use an inner neck with '
                'out_channels.')
        if self.out_channels is not None and not _is_sequence(in_channels) \
                and in_channels != self.out_channels:
            raise ValueError(
                f'fusion in_channels={in_channels} differs from the inner '
                f'neck out_channels={self.out_channels}.')
        if _is_sequence(in_channels):
            modules = []
            for channels in in_channels:
                level = dict(cfg, in_channels=channels)
                modules.append(build_neck_submodule(level))
            return nn.ModuleList(modules)
        cfg['in_channels'] = in_channels
        return build_neck_submodule(cfg)

    def _build_visual_prefix(self, cfg: dict) -> None:
        mode = cfg.pop('mode', 'per_class')
        if mode not in VISUAL_PREFIX_MODES:
            raise ValueError(
                f"visual_prefix mode='{mode}' is unknown; use one "
                f'of {VISUAL_PREFIX_MODES}.')
        encoder = self.text_encoder
        if not encoder.supports_input_embeds:
            raise ValueError(
                'visual_prefix needs a language model with input-embedding '
                f'access; {type(encoder.lm).__name__} has none.')
        self.visual_prefix_mode = mode
        self.visual_level = cfg.pop('level', -1)
        init_gate = cfg.pop('init_gate', 0.0)
        in_channels = cfg.pop('in_channels', self.out_channels)
        if in_channels is None:
            raise ValueError(
                'visual_prefix needs in_channels (channels of the '
                'pooled level) when there is no inner neck.')
        if self.out_channels is not None and in_channels != self.out_channels:
            raise ValueError(
                f'visual_prefix in_channels={in_channels} differs from the '
                f'inner neck out_channels={self.out_channels}.')
        cfg.setdefault('init_std', encoder.input_embedding_std())
        self.visual_projector = VisualPrefixProjector(
            in_channels=in_channels, lm_dims=encoder.hidden_size, **cfg)
        if mode == 'per_image':
            # one element, not 0-d: FSDP refuses 0-d parameters; a 0-d
            # ``visual_gate`` of an older checkpoint is reshaped on load
            self.visual_gate = nn.Parameter(one_element(init_gate))
            accept_scalar_checkpoints(self, ('visual_gate', ))

    # ------------------------------------------------------------- texts
    def encode_vocabulary(self, texts: Sequence) -> Tensor:
        """Embeddings ``[K, D]`` of one vocabulary, without image
        conditioning (cached; used to bake a vocabulary into a head)."""
        return self.text_encoder.encode_vocabulary(texts)

    def encode_texts(
            self,
            texts: Sequence,
            batch_size: int,
            visual_tokens: Optional[Tensor] = None,
            per_image: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
        """Embed the batch's vocabulary (or vocabularies).

        Args:
            texts (Sequence): Shared vocabulary or one per image.
            batch_size (int): Number of images B.
            visual_tokens (Tensor, optional): ``[B, V, H]`` for the
                per-class visual prefix.
            per_image (bool, optional): See
                :func:`mmvlm.structures.split_batch_texts`.

        Returns:
            tuple[Tensor, Tensor]: ``text_embeds`` ``[B, K, D]`` and
            ``text_mask`` bool ``[B, K]``.
        """
        per_image, vocabs = split_batch_texts(texts, batch_size, per_image)
        entries = [
            normalize_vocabulary(v,
                                 allow_padding=True,
                                 require_valid=not per_image) for v in vocabs
        ]
        if not any(len(x) for e in entries for x in e):
            raise ValueError('Every vocabulary of the batch is empty or only '
                             'padding; give at least one class name.')
        encoder = self.text_encoder
        if not per_image:
            valid = torch.tensor([len(e) > 0 for e in entries[0]])
            # the encoder takes the entries as given ('' padding -> zeros)
            vocab = list(vocabs[0])
            if visual_tokens is not None:
                embeds = encoder.encode_vocabulary(vocab, visual_tokens)
            else:
                embeds = encoder.encode_vocabulary(vocab).unsqueeze(0)
                embeds = embeds.expand(batch_size, -1, -1)
            mask = valid.to(embeds.device).unsqueeze(0).expand(batch_size, -1)
            return embeds, mask.contiguous()
        num = max(1, max(len(e) for e in entries))
        if visual_tokens is not None:
            rows = []
            for b, (e, raw) in enumerate(zip(entries, vocabs)):
                if any(len(x) for x in e):
                    rows.append(
                        encoder.encode_vocabulary(list(raw),
                                                  visual_tokens[b:b + 1])[0])
                else:  # an image without valid classes
                    rows.append(
                        visual_tokens.new_zeros(len(e), self.embed_dims))
        else:
            # Encode the union once, then gather every image's entries.
            union = list(dict.fromkeys(x for e in entries for x in e if x))
            table = encoder.encode_vocabulary(union)
            where = {x: i for i, x in enumerate(union)}
            rows = []
            for e in entries:
                index = torch.tensor([where.get(x, 0) for x in e],
                                     dtype=torch.long,
                                     device=table.device)
                valid = torch.tensor([len(x) > 0 for x in e],
                                     dtype=torch.bool,
                                     device=table.device)
                rows.append(table[index] * valid[:, None])
        embeds = torch.stack(
            [F.pad(r, (0, 0, 0, num - r.shape[0])) for r in rows])
        mask = torch.zeros(batch_size,
                           num,
                           dtype=torch.bool,
                           device=embeds.device)
        for b, e in enumerate(entries):
            mask[b, :len(e)] = torch.tensor([len(x) > 0 for x in e],
                                            dtype=torch.bool)
        return embeds, mask

    # ------------------------------------------------------------ forward
    def _fuse(self, feats: Tuple[Tensor, ...], text_embeds: Tensor,
              text_mask: Tensor) -> Tuple[Tensor, ...]:
        if self.fusion is None:
            return feats
        if isinstance(self.fusion, nn.ModuleList):
            if len(self.fusion) != len(feats):
                raise ValueError(f'{len(self.fusion)} fusion modules for '
                                 f'{len(feats)} feature levels.')
            return tuple(
                m(x, text_embeds, text_mask)
                for m, x in zip(self.fusion, feats))
        return tuple(self.fusion(x, text_embeds, text_mask) for x in feats)

    def forward(
        self,
        inputs: Sequence[Tensor],
        texts: Sequence,
        per_image: Optional[bool] = None
    ) -> Tuple[Tuple[Tensor, ...], Tensor, Tensor]:
        """Visual neck + vocabulary embedding + fusion.

        Args:
            inputs (Sequence[Tensor]): Backbone feature maps.
            texts (Sequence): One vocabulary shared by the batch
                (``Sequence[str | Sequence[str]]``) or one per image
                (lengths may differ; padded here). ``''`` entries are padding.
            per_image (bool, optional): Force the reading of ``texts``.

        Returns:
            tuple: ``(feats, text_embeds, text_mask)``: the fused multi-level
            features (tuple), L2-normalised ``[B, K, D]`` embeddings and the
            bool ``[B, K]`` mask (False = padding).
        """
        feats = tuple(
            self.neck(inputs)) if self.neck is not None else tuple(inputs)
        batch_size = feats[0].shape[0]
        visual_tokens = None
        if self.visual_projector is not None:
            visual_tokens = self.visual_projector(feats[self.visual_level])
        if self.visual_prefix_mode == 'per_class':
            text_embeds, text_mask = self.encode_texts(texts, batch_size,
                                                       visual_tokens,
                                                       per_image)
        else:
            text_embeds, text_mask = self.encode_texts(texts, batch_size, None,
                                                       per_image)
        if self.visual_prefix_mode == 'per_image':
            context = self.text_encoder.encode_visual_context(visual_tokens)
            shifted = text_embeds + self.visual_gate * context.unsqueeze(1)
            text_embeds = F.normalize(shifted,
                                      dim=-1) * text_mask.unsqueeze(-1)
        return self._fuse(feats, text_embeds,
                          text_mask), text_embeds, text_mask


def build_neck_submodule(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build a sub-module of the neck through the registries.

    The config is built with mmengine's root ``MODELS``, which resolves
    ``type`` in the current default scope (``'mmdet'`` / ``'mmseg'``, where
    ``import mmvlm`` registered mmvlm's text encoders and fusions next to
    the codebase's FPN). Outside any default scope (unit tests, scripts
    building a neck directly) the first installed codebase's scope is used
    (mmdet, mmseg, then mmpretrain).

    Args:
        cfg (dict | nn.Module): A config with ``type``, or a built module.

    Returns:
        nn.Module: The module.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if DefaultScope.get_current_instance() is not None:
        return ROOT_MODELS.build(cfg)
    scope = next((c for c in REGISTRY_SCOPES if codebase_available(c)),
                 None)
    if scope is None:
        raise RuntimeError(
            'LLMPrefixNeck needs mmdet, mmseg or mmpretrain installed: its '
            'sub-modules are registered there. Install one of them '
            '(bash tools/setup_env.sh, or tools/env/setup_mmpretrain_env.sh).')
    with DefaultScope.overwrite_default_scope(scope):
        return ROOT_MODELS.build(cfg)
