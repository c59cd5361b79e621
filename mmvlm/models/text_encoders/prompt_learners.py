"""Prompt learners: learnable inputs of a frozen language model.

Three kinds, chosen by the text encoder's config keys:

- :class:`PromptPrefix` (``prefix_length`` / ``prefix_init``): ``P``
  learnable input embeddings shared by every prompt (CoOp's context);
- :class:`ClassPromptPrefix` (``prefix_classes`` in addition): one such
  prefix per known class; other entries use the mean of the class prefixes;
- :class:`DeepPromptPrefix` (``deep_prefix_length``): learnable keys and
  values prepended in every attention layer of a decoder-only model through
  its key/value cache (prefix tuning).

The text encoder places the input-level prefix in each sequence
(``[BOS/CLS] [visual] [prefix] text``) and passes the deep prefix to the
model's forward call.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .hf_compat import (cache_argument, check_cache_consumed, expand_prefix,
                        new_prefix_cache)
from .hf_model_info import attention_shape, is_decoder_only, model_type

#: Checkpoint key of each prompt learner's parameter inside a text encoder
#: (the flat names of checkpoints written when the encoder held the
#: parameters itself): module key -> checkpoint key.
FLAT_STATE_KEYS = {
    'prompt_prefix.embeddings': 'prefix',
    'kv_prefix.key_values': 'deep_prefix'
}


def flatten_state_keys(state_dict: dict, prefix: str) -> None:
    """Rename the learners' module keys under ``prefix`` to their flat
    checkpoint keys (``prefix``, ``deep_prefix``), in place."""
    for name, flat in FLAT_STATE_KEYS.items():
        if prefix + name in state_dict:
            state_dict[prefix + flat] = state_dict.pop(prefix + name)


def unflatten_state_keys(state_dict: dict, prefix: str,
                         encoder: nn.Module) -> None:
    """Inverse of :func:`flatten_state_keys` (before loading), for the
    learners ``encoder`` has (other flat keys stay: they are unexpected)."""
    for name, flat in FLAT_STATE_KEYS.items():
        learner = getattr(encoder, name.split('.')[0], None)
        if learner is not None and prefix + flat in state_dict:
            state_dict[prefix + name] = state_dict.pop(prefix + flat)


class PromptPrefix(nn.Module):
    """``P`` learnable input embeddings shared by every prompt.

    Args:
        embeddings (Tensor): ``[P, H]`` initial embeddings (H: the LM's
            input-embedding width).
    """

    def __init__(self, embeddings: Tensor) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(embeddings)

    @property
    def length(self) -> int:
        """Number of prefix embeddings ``P``."""
        return self.embeddings.shape[-2]

    def slot(self, names: Tuple[str, ...]) -> int:
        """Prefix slot of a vocabulary entry: -1 (the shared prefix)."""
        return -1

    def forward(self, slots: Tensor) -> Tensor:
        """The prefix of every sequence.

        Args:
            slots (Tensor): ``[N]`` slot per sequence (ignored: shared).

        Returns:
            Tensor: ``[N, P, H]``.
        """
        return self.embeddings.unsqueeze(0).expand(slots.shape[0], -1, -1)


class ClassPromptPrefix(PromptPrefix):
    """One learnable prefix per known class (class-specific context).

    Entries are matched by their first name; an entry that is not a known
    class (open-vocabulary inference) gets the mean of the class prefixes.

    Args:
        embeddings (Tensor): ``[P, H]`` initial prefix, copied for every
            class.
        classes (Sequence[str]): The known class names (``C``).
    """

    def __init__(self, embeddings: Tensor, classes: Sequence[str]) -> None:
        super().__init__(embeddings.unsqueeze(0).repeat(len(classes), 1, 1))
        self.classes = tuple(classes)
        self._index = {name: i for i, name in enumerate(self.classes)}

    def slot(self, names: Tuple[str, ...]) -> int:
        """Index of the entry's class, -1 when it is not a known class."""
        return self._index.get(names[0], -1) if names else -1

    def forward(self, slots: Tensor) -> Tensor:
        """The prefix of every sequence.

        Args:
            slots (Tensor): ``[N]`` class index per sequence, -1 for the
                mean of the class prefixes.

        Returns:
            Tensor: ``[N, P, H]``.
        """
        table = torch.cat([self.embeddings, self.embeddings.mean(0, True)])
        return table[slots.clamp(min=-1) % table.shape[0]]


def build_prompt_prefix(length: int,
                        init: Optional[str],
                        classes: Optional[Sequence[str]],
                        embedding_table: Optional[nn.Module],
                        tokenizer,
                        model_name: str = 'the LM') -> Optional[PromptPrefix]:
    """The input-level prompt learner of a config, or None.

    Args:
        length (int): ``prefix_length`` (0 with ``init``: the phrase's
            token count).
        init (str, optional): ``prefix_init``: phrase whose token
            embeddings start the prefix; the rest is random with the
            table's standard deviation.
        classes (Sequence[str], optional): ``prefix_classes``: one prefix
            per class.
        embedding_table (nn.Module, optional): The LM's token embeddings
            (None: the LM gives no access to them).
        tokenizer: The LM's tokenizer (for ``init``).
        model_name (str): The LM class name, for messages.

    Returns:
        PromptPrefix | ClassPromptPrefix | None: The learner.
    """
    if length < 0:
        raise ValueError(f'prefix_length must be >= 0, got {length}.')
    if length == 0 and init is None:
        if classes:
            raise ValueError('prefix_classes needs a prefix: set '
                             'prefix_length or prefix_init.')
        return None
    if embedding_table is None:
        raise ValueError(
            'A learnable prefix needs access to the input embeddings of the '
            f'LM, but {model_name} has no usable get_input_embeddings() / '
            'inputs_embeds argument. Use prefix_length=0 with this model.')
    table = embedding_table.weight.detach().float()
    rows = torch.empty(0, table.shape[1])
    if init is not None:
        if not init.strip():
            raise ValueError('prefix_init is blank; give a phrase such as '
                             "'a photo of a', or None for a random prefix.")
        ids = tokenizer(init, add_special_tokens=False)['input_ids']
        if length and len(ids) > length:
            raise ValueError(
                f"prefix_init '{init}' is {len(ids)} tokens long but "
                f'prefix_length={length}; set prefix_length >= {len(ids)} '
                'or 0 (use the phrase length).')
        rows = table[ids].clone()
        length = length or len(ids)
    extra = length - rows.shape[0]
    if extra > 0:
        std = float(table.std())
        rows = torch.cat([rows, torch.randn(extra, table.shape[1]) * std])
    if classes:
        return ClassPromptPrefix(rows, classes)
    return PromptPrefix(rows)


class DeepPromptPrefix(nn.Module):
    """Learnable keys and values prepended in every attention layer.

    They reach the model as a pre-filled key/value cache, so every token
    attends to them in every layer; the attention mask covers them and
    token positions continue after them.

    Args:
        num_layers (int): Attention layers of the LM.
        num_kv_heads (int): Key/value heads per layer.
        length (int): Prefix positions ``P``.
        head_dim (int): Width of one head.
        cache_argument (str): The LM's forward argument that takes the
            cache (:func:`.hf_compat.cache_argument`).
    """

    def __init__(self, num_layers: int, num_kv_heads: int, length: int,
                 head_dim: int, cache_argument: str) -> None:
        super().__init__()
        #: ``[layers, 2 (key, value), kv_heads, P, head_dim]``
        self.key_values = nn.Parameter(
            torch.randn(num_layers, 2, num_kv_heads, length, head_dim) * 0.02)
        self.cache_argument = cache_argument

    @property
    def length(self) -> int:
        """Number of prefix positions ``P``."""
        return self.key_values.shape[3]

    def forward(self, attention_mask: Tensor, config,
                dtype: torch.dtype) -> dict:
        """Keyword arguments that feed the prefix to the LM.

        Args:
            attention_mask (Tensor): ``[N, L]`` mask of the tokens.
            config: The LM's ``PretrainedConfig``.
            dtype (torch.dtype): The LM's weight dtype.

        Returns:
            dict: ``{cache_argument: cache of P positions, 'attention_mask':
            [N, P + L]}``.
        """
        batch = attention_mask.shape[0]
        keys, values = expand_prefix(self.key_values, batch, dtype)
        mask = torch.cat(
            [attention_mask.new_ones(batch, self.length), attention_mask], 1)
        return {
            self.cache_argument: new_prefix_cache(config, keys, values),
            'attention_mask': mask
        }

    def check_consumed(self, lm_kwargs: dict, lm: nn.Module) -> None:
        """Raise when the LM ignored the prefix cache of ``lm_kwargs``
        (see :func:`.hf_compat.check_cache_consumed`)."""
        check_cache_consumed(lm_kwargs[self.cache_argument],
                             lm_kwargs['attention_mask'].shape[1], lm,
                             self.cache_argument)


def build_deep_prefix(length: int,
                      lm: nn.Module) -> Optional[DeepPromptPrefix]:
    """The deep prompt learner of ``deep_prefix_length``, or None.

    Args:
        length (int): Prefix positions (0: none).
        lm (nn.Module): The language model (decoder-only, taking a cache).

    Returns:
        DeepPromptPrefix | None: The learner.
    """
    if length == 0:
        return None
    if length < 0:
        raise ValueError(f'deep_prefix_length must be >= 0, got {length}.')
    argument = cache_argument(lm)
    if not is_decoder_only(lm.config) or argument is None:
        raise ValueError(
            'deep_prefix_length needs a decoder-only LM that takes a '
            'key/value cache (forward argument cache= or past_key_values=); '
            f'{type(lm).__name__} (model_type '
            f"'{model_type(lm.config)}') takes neither. Use prefix_length "
            '(input-level prefix) instead.')
    layers, kv_heads, head_dim = attention_shape(lm.config)
    return DeepPromptPrefix(layers, kv_heads, length, head_dim, argument)
