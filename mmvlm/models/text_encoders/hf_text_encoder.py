"""Any Hugging Face language model as the text side of a detector/segmentor
(the parts it orchestrates are listed in this package's ``__init__``)."""
import time
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS
from mmvlm.structures import (VocabEntry, check_prompt_count, expand_prompts,
                              normalize_templates, normalize_vocabulary)

from .hf_compat import forward_arguments
from .hf_loading import (build_language_model, build_tokenizer,
                         check_model_arguments, check_pooling,
                         resolve_max_length, resolve_pooling,
                         resolve_torch_dtype)
from .hf_model_info import (embedding_std, hidden_size, input_embedding_table,
                            is_decoder_only, model_type)
from .lm_forward import (assemble_sequences, check_visual_tokens,
                         pad_sequences, pad_token_ids, pooled_lm_features,
                         run_length_sorted, run_per_image, token_id_matrix)
from .lm_training import (check_training_mode, drop_frozen_state,
                          fill_frozen_state, freeze, frozen_state_names,
                          inject_lora)
from .prompt_learners import (build_deep_prefix, build_prompt_prefix,
                              flatten_state_keys, unflatten_state_keys)
from .prompt_tokenizer import PromptTokenizer
from .text_embedding_cache import TextEmbeddingCache
from .text_pooling import average_per_entry, build_projection

#: A vocabulary of more prompts than this is encoded chunk by chunk, keeping
#: only the per-entry sums (memory flat in the number of prompts).
ENCODE_CHUNK = 2048
#: Seconds after which chunked encoding logs its progress.
PROGRESS_AFTER_S = 5.0


def _checkpoint_state(module: 'HFTextEncoder', state_dict: dict, prefix: str,
                      local_metadata: dict) -> None:
    """``state_dict`` post-hook: leave the frozen LM out (it comes back from
    ``name_or_path`` at build) and write the prompt learners' flat keys."""
    drop_frozen_state(module.lm, state_dict, prefix + 'lm.')
    flatten_state_keys(state_dict, prefix)


@MODELS.register_module()
class HFTextEncoder(BaseModule):
    """Encode vocabularies with a (frozen) Hugging Face language model.

    Every vocabulary entry (a class name, a prompt, or a tuple of synonyms)
    becomes ONE L2-normalised embedding of width ``embed_dims``: each
    synonym x template prompt is run through the language model as
    ``[BOS/CLS] [visual tokens] [prefix] text``, pooled, projected and
    normalised; the prompts of an entry are averaged and normalised again.
    Pooled LM features are cached per prompt (:meth:`encode_prompts`).

    Args:
        name_or_path (str, optional): The ONE key naming the model: an
            offline alias (``'minilm'``, ``'smollm2-135m'``), a local folder,
            a ``.gguf`` file, or a hub id (with ``local_files_only=False``).
            The tokenizer is read from the same place by default.
        embed_dims (int, optional): Output width (the head's embedding
            width). None keeps the LM width without a projection.
        hf_config (dict, optional): ``dict(model_type=..., **kwargs)`` of a
            randomly initialised model instead of ``name_or_path`` (tests,
            training from scratch). Needs ``tokenizer``.
        tokenizer (str | dict | PreTrainedTokenizerBase, optional): An alias
            / folder, a name or ``dict(type=...)`` config of
            :data:`.hf_loading.TOKENIZERS` (``type`` may be the dotted path
            of a builder function), or a tokenizer object.
        pooling (str): ``'auto'`` (by model, see :func:`.resolve_pooling`),
            ``'cls'``, ``'mean'``, ``'last'`` or ``'eos'``.
        prefix_length (int): Learnable prefix embeddings (0: none, or the
            phrase length with ``prefix_init``).
        prefix_init (str, optional): Phrase whose token embeddings initialise
            the prefix, e.g. ``'a photo of a'``.
        prefix_classes (Sequence[str], optional): One prefix per class named
            here (matched with each entry's first name); other entries use
            the mean of the class prefixes.
        deep_prefix_length (int): Learnable keys/values prepended in every
            attention layer of a decoder-only LM (prefix tuning); 0: none.
        templates (str | Sequence[str], optional): Prompt template(s) with one
            ``{}``; an ensemble is averaged into one embedding per class.
        max_length (int, optional): Tokens per sequence (special, prefix and
            visual tokens included); default: the model's maximum. Longer
            prompts are truncated with one warning.
        freeze_lm (bool): Freeze the LM (no gradients, eval mode, left out
            of checkpoints). Default True.
        lora (dict, optional): ``peft.LoraConfig`` arguments, e.g.
            ``dict(r=8, lora_alpha=16)``; only the LoRA weights train.
        local_files_only (bool): Never contact a model hub. Default True.
        trust_remote_code (bool): Let the model folder run the Python code
            its ``config.json`` / ``tokenizer_config.json`` names
            (``auto_map``). Default False: such a folder is refused with an
            error naming this option, and transformers is always given
            ``trust_remote_code=False`` (it never asks on stdin).
        gguf_file (str, optional): GGUF file inside ``name_or_path``.
        revision (str, optional): Hub revision (with hub access).
        torch_dtype (str, optional): ``'float32'`` (default), ``'bfloat16'``
            or ``'float16'`` for the LM weights.
        padding_side (str, optional): ``'left'`` / ``'right'`` (default: the
            tokenizer's); results do not depend on it.
        cache_size (int): Prompts kept in the feature cache (0 disables).
        encode_batch_size (int): Sequences per LM call.
        on_unrepresentable (str): ``'error'`` (default) or ``'warn'`` for
            prompts the tokenizer cannot represent (mostly unknown tokens,
            or distinct prompts with identical token ids).
        init_cfg (dict, optional): Initialisation config of mmengine.
    """

    def __init__(self,
                 name_or_path: Optional[str] = None,
                 embed_dims: Optional[int] = 256,
                 hf_config: Optional[dict] = None,
                 tokenizer: Union[None, str, dict, object] = None,
                 pooling: str = 'auto',
                 prefix_length: int = 0,
                 prefix_init: Optional[str] = None,
                 prefix_classes: Optional[Sequence[str]] = None,
                 deep_prefix_length: int = 0,
                 templates: Optional[Union[str, Sequence[str]]] = None,
                 max_length: Optional[int] = None,
                 freeze_lm: bool = True,
                 lora: Optional[dict] = None,
                 local_files_only: bool = True,
                 trust_remote_code: bool = False,
                 gguf_file: Optional[str] = None,
                 revision: Optional[str] = None,
                 torch_dtype: Optional[str] = None,
                 padding_side: Optional[str] = None,
                 cache_size: int = 65536,
                 encode_batch_size: int = 256,
                 on_unrepresentable: str = 'error',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_pooling(pooling)
        check_training_mode(freeze_lm, lora)
        check_model_arguments(name_or_path, hf_config, tokenizer)
        self.name_or_path = name_or_path
        self.templates = normalize_templates(templates)
        self.freeze_lm = freeze_lm
        self.encode_batch_size = int(encode_batch_size)
        self.cache = TextEmbeddingCache(cache_size)
        #: Forward calls of the language model (for tests and benchmarks).
        self.lm_calls = 0
        self._cache_epoch = 0

        self.tokenizer = build_tokenizer(tokenizer, name_or_path, gguf_file,
                                         local_files_only, revision,
                                         padding_side, trust_remote_code)
        self.lm = build_language_model(name_or_path, hf_config, self.tokenizer,
                                       gguf_file, local_files_only, revision,
                                       resolve_torch_dtype(torch_dtype),
                                       trust_remote_code)
        self.lm.is_init = True  # mmengine's init_weights must not reset it
        config = self.lm.config
        self.hidden_size = hidden_size(config)
        self.model_type = model_type(config)
        self.pooling = resolve_pooling(pooling, name_or_path, config)
        self._lm_kwargs = forward_arguments(self.lm)
        self.supports_input_embeds = self._has_input_embeds()
        self.max_length = resolve_max_length(config, self.tokenizer,
                                             max_length)
        self.prompt_tokenizer = PromptTokenizer(self.tokenizer,
                                                self.max_length,
                                                self.pooling == 'eos',
                                                on_unrepresentable)
        if freeze_lm:
            freeze(self.lm)
        if lora is not None:
            inject_lora(self.lm, lora, self.model_type)

        table = (
            self.lm.get_input_embeddings()
            if self.supports_input_embeds else None)
        self.prompt_prefix = build_prompt_prefix(prefix_length, prefix_init,
                                                 prefix_classes, table,
                                                 self.tokenizer,
                                                 type(self.lm).__name__)
        self.kv_prefix = build_deep_prefix(deep_prefix_length, self.lm)

        self.embed_dims = embed_dims or self.hidden_size
        self.projection = build_projection(self.hidden_size, embed_dims)
        self.register_state_dict_post_hook(_checkpoint_state)

    # ------------------------------------------------------- properties
    def _has_input_embeds(self) -> bool:
        return input_embedding_table(self.lm, self._lm_kwargs) is not None

    @property
    def prefix(self) -> Optional[nn.Parameter]:
        """The input-level prefix ``[P, H]`` (``[C, P, H]`` per class)."""
        return getattr(self.prompt_prefix, 'embeddings', None)

    @property
    def prefix_length(self) -> int:
        """Input-level prefix positions ``P`` (0: none)."""
        return 0 if self.prompt_prefix is None else self.prompt_prefix.length

    @property
    def deep_prefix(self) -> Optional[nn.Parameter]:
        """The deep prefix ``[layers, 2, kv_heads, P, head_dim]``."""
        return getattr(self.kv_prefix, 'key_values', None)

    @property
    def is_decoder_only(self) -> bool:
        """Whether the LM is causal (decoder-only)."""
        return is_decoder_only(self.lm.config)

    @property
    def projection_device(self) -> torch.device:
        """Device of the encoder's weights."""
        return next(self.lm.parameters()).device

    # ------------------------------------------------ training, checkpoints
    def train(self, mode: bool = True) -> 'HFTextEncoder':
        """Set train/eval mode; a frozen LM always stays in eval mode."""
        super().train(mode)
        if self.freeze_lm:
            self.lm.eval()
        return self

    def lm_input_parameters(self) -> List[nn.Parameter]:
        """Parameters that change the LM's output: prefixes and LM weights."""
        extras = [p for p in (self.prefix, self.deep_prefix) if p is not None]
        return list(self.lm.parameters()) + extras

    @property
    def has_learnable_lm_inputs(self) -> bool:
        """Whether any parameter feeding the LM is trained (prefix, LoRA,
        unfrozen LM)."""
        return any(p.requires_grad for p in self.lm_input_parameters())

    def excluded_lm_state_names(self) -> List[str]:
        """Names (relative to ``lm.``) left out of the state_dict: every
        frozen LM parameter and every persistent LM buffer."""
        return frozen_state_names(self.lm)

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        # Checkpoints leave the frozen LM out: fill its entries with the
        # weights already built, so that loading reports no missing keys.
        fill_frozen_state(self.lm, state_dict, prefix + 'lm.')
        unflatten_state_keys(state_dict, prefix, self)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def invalidate_cache(self) -> None:
        """Forget cached LM features (done automatically when parameters
        feeding the LM change in place, e.g. by an optimizer step)."""
        self.cache.clear()
        self._cache_epoch += 1

    # ------------------------------------------------------------ LM call
    def _tokenize(self,
                  prompts: Sequence[str],
                  num_visual: int = 0) -> List[List[int]]:
        """Token ids of every prompt, truncated to the length budget."""
        deep = 0 if self.kv_prefix is None else self.kv_prefix.length
        return self.prompt_tokenizer(prompts,
                                     self.prefix_length + deep + num_visual)

    def _run_lm(self,
                token_lists: Sequence[List[int]],
                slots: Tensor,
                visual: Optional[Tensor] = None) -> Tensor:
        """Run the LM on ``[head] [visual] [prefix] text`` sequences.

        Args:
            token_lists (Sequence[list[int]]): Token ids per sequence.
            slots (Tensor): ``[N]`` class-prefix slot per sequence.
            visual (Tensor, optional): ``[N, V, H]`` visual tokens.

        Returns:
            Tensor: ``[N, H]`` pooled float32 features.
        """
        ids = token_id_matrix(token_lists, self.projection_device)
        lengths = [len(t) for t in token_lists]
        left = self.tokenizer.padding_side == 'left'
        prefix = None
        if self.prompt_prefix is not None:
            prefix = self.prompt_prefix(slots.to(ids.device))
        use_ids = not self.supports_input_embeds
        if use_ids and prefix is None and visual is None:
            pad_id = self.tokenizer.pad_token_id or 0
            ids, mask = pad_token_ids(ids, lengths, pad_id, left)
            inputs = dict(input_ids=ids)
        else:
            dtype = next(self.lm.parameters()).dtype
            tokens = self.lm.get_input_embeddings()(ids).to(dtype)
            heads = [self.prompt_tokenizer.head_length(t) for t in token_lists]
            rows = assemble_sequences(tokens, token_lists, heads, visual,
                                      prefix)
            embeds, mask = pad_sequences(rows, left)
            inputs = dict(inputs_embeds=embeds)
        self.lm_calls += 1
        return pooled_lm_features(self.lm, inputs, mask, self.pooling,
                                  self._lm_kwargs, self.kv_prefix)

    # ------------------------------------------------------------ encoding
    def encode_prompts(self,
                       prompts: Sequence[str],
                       slots: Optional[Sequence[int]] = None) -> Tensor:
        """Pooled LM features ``[N, H]`` of prompts (no projection).

        Each distinct (prompt, prefix slot) is encoded once per call. When no
        gradient can flow into the LM inputs (frozen LM without prefix/LoRA,
        eval mode, or ``torch.no_grad``), features come from / go to the
        cache, keyed by the prompt, the prefix slot and a version of every
        parameter feeding the LM; otherwise they are computed with autograd.

        Args:
            prompts (Sequence[str]): Prompts (templates already applied).
            slots (Sequence[int], optional): Class-specific prefix slot per
                prompt (-1: shared).

        Returns:
            Tensor: ``[N, H]`` float32 features.
        """
        slots = list(slots) if slots is not None else [-1] * len(prompts)
        keys = list(zip(prompts, slots))
        unique = list(dict.fromkeys(keys))
        position = {k: i for i, k in enumerate(unique)}
        index = torch.tensor([position[k] for k in keys], dtype=torch.long)
        params = self.lm_input_parameters()
        if torch.is_grad_enabled() and self.training and any(p.requires_grad
                                                             for p in params):
            feats = self._encode_unique(unique)
        else:
            version = self._cache_epoch + sum(p._version for p in params)
            with torch.no_grad():
                feats = self.cache.fetch(unique, version, self._encode_unique,
                                         self.projection_device)
        return feats[index.to(feats.device)]

    def _encode_unique(self, keys: List[Tuple[str, int]]) -> Tensor:
        """``[K, H]`` features of distinct (prompt, slot) keys."""
        return run_length_sorted(
            self._tokenize([k[0] for k in keys]), [k[1] for k in keys],
            self.encode_batch_size, self._run_lm)

    def encode_vocabulary(self,
                          texts: Sequence[VocabEntry],
                          visual_tokens: Optional[Tensor] = None) -> Tensor:
        """Embed a vocabulary: one L2-normalised vector per entry.

        Args:
            texts (Sequence[str | Sequence[str]]): Class names / prompts; an
                entry may be a tuple of synonyms; ``''`` entries are padding
                and get a zero vector.
            visual_tokens (Tensor, optional): ``[B, V, H]`` visual tokens in
                the LM's input-embedding space, prepended to every prompt of
                every image (B x K sequences).

        Returns:
            Tensor: ``[K, D]``, or ``[B, K, D]`` with ``visual_tokens``.

        Raises:
            ValueError: More prompts (entries x synonyms x templates) than
                :func:`mmvlm.structures.max_prompts`, before
                anything is encoded.
        """
        entries = normalize_vocabulary(texts, allow_padding=True)
        check_prompt_count(entries, len(self.templates))
        prompts, owners = expand_prompts(entries, self.templates)
        learner = self.prompt_prefix
        slots = [
            -1 if learner is None else learner.slot(entries[o]) for o in owners
        ]
        if visual_tokens is None and len(prompts) > ENCODE_CHUNK:
            return self._encode_in_chunks(prompts, slots, owners,
                                          len(entries))
        if visual_tokens is None:
            feats = self.encode_prompts(prompts, slots)
        else:
            feats = self._encode_with_visual(prompts, slots, visual_tokens)
        embeds = F.normalize(self.projection(feats), dim=-1)
        owners_t = torch.tensor(owners, device=embeds.device)
        return average_per_entry(embeds, owners_t, len(entries))

    def _encode_in_chunks(self, prompts: List[str], slots: List[int],
                          owners: List[int], num_entries: int) -> Tensor:
        """``[K, D]`` entry embeddings of many prompts, :data:`ENCODE_CHUNK`
        at a time: each chunk's embeddings are summed into their entries and
        dropped, so memory holds ``[K, D]`` sums and one chunk. The prompts
        of an entry are consecutive (``owners`` never decreases).
        """
        sums = None
        start = last = time.perf_counter()
        for begin in range(0, len(prompts), ENCODE_CHUNK):
            end = min(begin + ENCODE_CHUNK, len(prompts))
            feats = self.encode_prompts(prompts[begin:end], slots[begin:end])
            embeds = F.normalize(self.projection(feats), dim=-1)
            first = owners[begin]
            local = torch.tensor(owners[begin:end],
                                 device=embeds.device) - first
            assign = F.one_hot(local, owners[end - 1] - first + 1).t()
            part = torch.matmul(assign.to(embeds.dtype), embeds)
            if sums is None:
                sums = embeds.new_zeros(num_entries, embeds.shape[1])
            rows = torch.arange(first, first + len(part), device=part.device)
            sums = sums.index_add(0, rows, part)
            now = time.perf_counter()
            if now - start > PROGRESS_AFTER_S and (
                    now - last > PROGRESS_AFTER_S or end == len(prompts)):
                last = now
                print_log(
                    f'Text encoder: {end:,} / {len(prompts):,} prompts '
                    f'encoded in {now - start:.0f} s', logger='current')
        return F.normalize(sums, dim=-1)

    def forward(self, texts: Sequence[VocabEntry]) -> Tensor:
        """Same as :meth:`encode_vocabulary` without image conditioning."""
        return self.encode_vocabulary(texts)

    # ----------------------------------------------- visual conditioning
    def _encode_with_visual(self, prompts: Sequence[str], slots: List[int],
                            visual_tokens: Tensor) -> Tensor:
        """``[B, N, H]`` features of every prompt conditioned on every
        image's visual tokens (B x N LM sequences, never cached)."""
        check_visual_tokens(visual_tokens, self.hidden_size,
                            self.supports_input_embeds, self.lm)
        token_lists = self._tokenize(prompts, visual_tokens.shape[1])
        return run_per_image(token_lists, slots, visual_tokens,
                             self.encode_batch_size, self._run_lm)

    def encode_visual_context(self, visual_tokens: Tensor) -> Tensor:
        """One projected LM feature per image from ``[head] visual prefix``
        alone (B LM sequences): the cheap image-conditioning mode.

        Args:
            visual_tokens (Tensor): ``[B, V, H]``.

        Returns:
            Tensor: ``[B, D]`` projected (not normalised) features.
        """
        check_visual_tokens(visual_tokens, self.hidden_size,
                            self.supports_input_embeds, self.lm)
        seqs = [self.prompt_tokenizer.empty_prompt()] * visual_tokens.shape[0]
        slots = torch.full((len(seqs), ), -1, dtype=torch.long)
        return self.projection(self._run_lm(seqs, slots, visual_tokens))

    def input_embedding_std(self) -> float:
        """Standard deviation of the LM's token embeddings (scale of its
        input space, used to initialise visual-token projections)."""
        table = input_embedding_table(self.lm, self._lm_kwargs)
        return 0.02 if table is None else embedding_std(table)
