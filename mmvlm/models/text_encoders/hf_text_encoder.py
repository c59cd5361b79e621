"""Any Hugging Face language model as the text side of a detector/segmentor."""
import inspect
import json
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmvlm.registry import MODELS
from .model_sources import (ModelSource, _alias_help, resolve_model_source,
                            tokenizer_builder)
from .text_embedding_cache import TextEmbeddingCache
from .text_pooling import POOLING_MODES, pool_hidden_states
from .vocabulary import (VocabEntry, expand_prompts, normalize_templates,
                         normalize_vocabulary)

#: model_type values of decoder-only (causal) language models.
DECODER_ONLY_TYPES = frozenset({
    'gpt2', 'gpt_neo', 'gpt_neox', 'gptj', 'llama', 'mistral', 'mixtral',
    'qwen2', 'qwen2_moe', 'qwen3', 'gemma', 'gemma2', 'gemma3_text', 'phi',
    'phi3', 'opt', 'bloom', 'falcon', 'olmo', 'olmo2', 'starcoder2',
    'stablelm', 'cohere', 'granite', 'smollm3', 'codegen'
})

_TORCH_DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'float16': torch.float16,
    'fp16': torch.float16,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
}


def _drop_frozen_lm_state(module: 'HFTextEncoder', state_dict: dict,
                          prefix: str, local_metadata: dict) -> None:
    """``state_dict`` post-hook: remove the frozen language model's tensors.

    They come back from ``name_or_path`` when the model is built, so writing
    them into every checkpoint only costs disk space (hundreds of MB).
    """
    for name in module.excluded_lm_state_names():
        state_dict.pop(prefix + 'lm.' + name, None)


@MODELS.register_module()
class HFTextEncoder(BaseModule):
    """Encode vocabularies with a (frozen) Hugging Face language model.

    Every vocabulary entry (a class name, a prompt, or a tuple of synonyms)
    becomes ONE L2-normalised embedding of width ``embed_dims``: each
    synonym x template prompt is run through the language model, pooled,
    projected and normalised, then the prompts of an entry are averaged and
    normalised again. There is no token cap and no token-to-class
    bookkeeping.

    Sequences fed to the LM are ``[BOS/CLS] [visual tokens] [prefix] text``:
    the learnable prefix (CoOp-style context) goes after the leading
    BOS / CLS token when the tokenizer adds one, else at the start.

    Pooled LM features of each prompt are cached (see :meth:`encode_prompts`)
    so that a frozen LM runs once per vocabulary, not once per batch; the
    learnable projection is applied after the cache.

    Args:
        name_or_path (str, optional): The ONE key naming the model: an
            offline alias (``'minilm'``, ``'smollm2-135m'``), a local folder,
            a local ``.gguf`` file, or a hub id (with
            ``local_files_only=False``). The tokenizer is read from the same
            place unless ``tokenizer`` is given.
        embed_dims (int, optional): Output width (the visual embedding width
            of the head). None keeps the LM width without a projection.
        hf_config (dict, optional): Build a randomly initialised model from
            ``dict(model_type=..., **config_kwargs)`` instead of loading
            weights (tests, or training from scratch). Needs ``tokenizer``.
        tokenizer (str, optional): Tokenizer alias / folder when it differs
            from ``name_or_path``; also ``'tiny-bpe'`` / ``'tiny-bpe-bos'``
            for the code-built test tokenizers.
        pooling (str): ``'auto'``, ``'cls'``, ``'mean'``, ``'last'`` or
            ``'eos'``. ``'auto'`` reads a sentence-transformers pooling
            config when present, else uses ``'last'`` for decoder-only LMs,
            ``'eos'`` for CLIP and ``'mean'`` for other encoders.
        prefix_length (int): Number of learnable prefix embeddings (0: none;
            with ``prefix_init`` and 0, the phrase's token count).
        prefix_init (str, optional): Phrase whose token embeddings initialise
            the prefix, e.g. ``'a photo of a'``.
        prefix_classes (Sequence[str], optional): Make the prefix
            class-specific: one prefix per name listed here (matched against
            the first name of each vocabulary entry). Entries not listed use
            the mean of the class prefixes.
        deep_prefix_length (int): Learnable keys/values prepended in EVERY
            attention layer (prefix tuning) of a decoder-only LM; 0: none.
        templates (str | Sequence[str], optional): Prompt template(s) with one
            ``{}``; an ensemble is averaged into one embedding per class.
        max_length (int, optional): Cap on tokens per sequence (special,
            prefix and visual tokens included). Defaults to the model's
            maximum. Longer prompts are truncated with one warning.
        freeze_lm (bool): Freeze the language model (``requires_grad=False``,
            eval mode, not saved in checkpoints). Default True.
        lora (dict, optional): ``peft.LoraConfig`` arguments, e.g.
            ``dict(r=8, lora_alpha=16)``; ``target_modules`` defaults to
            peft's choice for the architecture. Only the LoRA weights train.
        local_files_only (bool): Never contact a model hub. Default True.
        gguf_file (str, optional): GGUF file inside ``name_or_path``.
        revision (str, optional): Hub revision (with hub access).
        torch_dtype (str, optional): ``'float32'``, ``'bfloat16'`` or
            ``'float16'`` for the LM weights. Default: float32.
        padding_side (str, optional): ``'left'`` or ``'right'``; defaults to
            the tokenizer's. Results do not depend on it (position ids are
            computed from the attention mask).
        cache_size (int): Prompts kept in the feature cache (0 disables).
        encode_batch_size (int): Sequences per LM call.
        init_cfg (dict, optional): Initialisation config of mmengine.
    """

    def __init__(self,
                 name_or_path: Optional[str] = None,
                 embed_dims: Optional[int] = 256,
                 hf_config: Optional[dict] = None,
                 tokenizer: Optional[str] = None,
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
                 gguf_file: Optional[str] = None,
                 revision: Optional[str] = None,
                 torch_dtype: Optional[str] = None,
                 padding_side: Optional[str] = None,
                 cache_size: int = 65536,
                 encode_batch_size: int = 256,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if pooling not in POOLING_MODES + ('auto', ):
            raise ValueError(f"pooling='{pooling}' is unknown; use one of "
                             f"{POOLING_MODES + ('auto', )}.")
        if padding_side not in (None, 'left', 'right'):
            raise ValueError(f"padding_side='{padding_side}' must be 'left', "
                             "'right' or None (the tokenizer's).")
        if prefix_length < 0:
            raise ValueError(f'prefix_length must be >= 0, got {prefix_length}.')
        if lora is not None and not freeze_lm:
            raise ValueError('lora and freeze_lm=False both train the LM; '
                             'choose one (LoRA keeps the base weights frozen).')
        self.name_or_path = name_or_path
        self.templates = normalize_templates(templates)
        self.freeze_lm = freeze_lm
        self.encode_batch_size = int(encode_batch_size)
        self.cache = TextEmbeddingCache(cache_size)
        #: Number of forward calls of the language model (for tests/benchmarks).
        self.lm_calls = 0
        self._cache_epoch = 0
        self._warned_truncation = False

        self.tokenizer = self._build_tokenizer(name_or_path, hf_config,
                                               tokenizer, gguf_file,
                                               local_files_only, revision)
        if padding_side is not None:
            self.tokenizer.padding_side = padding_side
        self.lm = self._build_lm(name_or_path, hf_config, gguf_file,
                                 local_files_only, revision, torch_dtype)
        # mmengine's init_weights must never re-initialise the LM.
        self.lm.is_init = True
        self.hidden_size = self._hidden_size(self.lm.config)
        self.model_type = getattr(self.lm.config, 'model_type', '')
        self.pooling = self._resolve_pooling(pooling, name_or_path, hf_config)
        self._lm_kwargs = set(inspect.signature(self.lm.forward).parameters)
        self.supports_input_embeds = self._has_input_embeds()
        self.max_length = self._resolve_max_length(max_length)
        self._head_ids = {
            i
            for i in (self.tokenizer.cls_token_id, self.tokenizer.bos_token_id)
            if i is not None
        }
        eos = self.tokenizer.eos_token_id
        self._eos_id = eos if eos is not None else self.tokenizer.sep_token_id
        if self.pooling == 'eos' and self._eos_id is None:
            raise ValueError("pooling='eos' needs a tokenizer with an EOS or "
                             "SEP token; use pooling='last' or 'mean'.")

        if freeze_lm:
            self.lm.requires_grad_(False)
            self.lm.eval()
        if lora is not None:
            self._inject_lora(dict(lora))

        self.prefix_classes = tuple(prefix_classes or ())
        self._prefix_class_index = {
            name: i
            for i, name in enumerate(self.prefix_classes)
        }
        self.prefix = self._build_prefix(prefix_length, prefix_init)
        self.prefix_length = 0 if self.prefix is None else self.prefix.shape[-2]
        self.deep_prefix = self._build_deep_prefix(deep_prefix_length)

        self.embed_dims = self.hidden_size if embed_dims is None else embed_dims
        if embed_dims is None:
            self.projection = nn.Identity()
        else:
            self.projection = nn.Linear(self.hidden_size, embed_dims)
            # A random Gaussian projection: keeps the LM's cosine geometry
            # approximately (Johnson-Lindenstrauss) at the start of training.
            nn.init.normal_(self.projection.weight, std=embed_dims**-0.5)
            nn.init.zeros_(self.projection.bias)
        self.register_state_dict_post_hook(_drop_frozen_lm_state)

    # ------------------------------------------------------------ building
    @staticmethod
    def _hidden_size(config) -> int:
        for name in ('hidden_size', 'n_embd', 'd_model', 'dim'):
            value = getattr(config, name, None)
            if isinstance(value, int):
                return value
        raise ValueError(f'Cannot read the hidden width of {type(config)}.')

    @staticmethod
    def _pretrained_kwargs(source: ModelSource, local_files_only: bool,
                           revision: Optional[str]) -> dict:
        kwargs = dict(local_files_only=local_files_only)
        if revision is not None:
            kwargs['revision'] = revision
        if source.gguf_file is not None:
            kwargs['gguf_file'] = source.gguf_file
        return kwargs

    def _build_tokenizer(self, name_or_path, hf_config, tokenizer, gguf_file,
                         local_files_only, revision):
        from transformers import AutoTokenizer
        if tokenizer is None and hf_config is not None:
            raise ValueError('hf_config builds a random model and needs a '
                             "tokenizer: set tokenizer='minilm' (WordPiece) "
                             "or 'tiny-bpe', or a tokenizer folder.")
        if hf_config is not None and name_or_path is not None:
            raise ValueError('Give either name_or_path (pretrained weights) or '
                             'hf_config (random weights), not both.')
        if hf_config is None and name_or_path is None:
            raise ValueError('HFTextEncoder needs name_or_path: an offline '
                             f'alias ({_alias_help()}) or a local folder.')
        name = tokenizer if tokenizer is not None else name_or_path
        builder = tokenizer_builder(name)
        if builder is not None:
            tok = builder()
        else:
            source = resolve_model_source(
                name, gguf_file if tokenizer is None else None,
                local_files_only)
            try:
                tok = AutoTokenizer.from_pretrained(
                    source.path,
                    **self._pretrained_kwargs(source, local_files_only,
                                              revision))
            except (OSError, ValueError) as err:
                raise OSError(
                    f"Could not load a tokenizer from '{source.path}' (from "
                    f"'{name}'): {err}. Known offline aliases: "
                    f'{_alias_help()}.') from err
        if tok.pad_token is None:
            # GPT-style tokenizers have no pad token. The encoder never feeds
            # pad ids to the LM (padding is masked and zero-embedded), so
            # reusing EOS / UNK avoids resizing the LM's embeddings.
            fallback = tok.eos_token or tok.unk_token or tok.bos_token
            if fallback is not None:
                tok.pad_token = fallback
            else:
                tok.add_special_tokens({'pad_token': '<pad>'})
        return tok

    def _build_lm(self, name_or_path, hf_config, gguf_file, local_files_only,
                  revision, torch_dtype) -> nn.Module:
        from transformers import AutoConfig, AutoModel
        dtype = None
        if torch_dtype is not None:
            if torch_dtype not in _TORCH_DTYPES:
                raise ValueError(f"torch_dtype='{torch_dtype}' is unknown; use "
                                 f'one of {sorted(_TORCH_DTYPES)}.')
            dtype = _TORCH_DTYPES[torch_dtype]
        if hf_config is not None:
            cfg = dict(hf_config)
            model_type = cfg.pop('model_type', None)
            if model_type is None:
                raise ValueError("hf_config needs a 'model_type' key, e.g. "
                                 "dict(model_type='bert', hidden_size=32).")
            cfg.setdefault('vocab_size', len(self.tokenizer))
            # Special-token ids of the config must exist in the vocabulary.
            for key in ('bos_token_id', 'eos_token_id', 'pad_token_id'):
                cfg.setdefault(key, getattr(self.tokenizer, key, None))
            config = AutoConfig.for_model(model_type, **cfg)
            lm = AutoModel.from_config(config)
            if dtype is not None:
                lm = lm.to(dtype)
            return lm
        source = resolve_model_source(name_or_path, gguf_file,
                                      local_files_only)
        kwargs = self._pretrained_kwargs(source, local_files_only, revision)
        if dtype is not None:
            kwargs['dtype'] = dtype
        try:
            config = AutoConfig.from_pretrained(source.path, **kwargs)
            if getattr(config, 'model_type', '') == 'clip':
                from transformers import CLIPTextModel
                return CLIPTextModel.from_pretrained(source.path, **kwargs)
            return AutoModel.from_pretrained(source.path, **kwargs)
        except OSError as err:
            raise OSError(
                f"Could not load language model '{name_or_path}' from "
                f"'{source.path}' (local_files_only={local_files_only}): {err}"
                f'. Known offline aliases: {_alias_help()}.') from err

    def _resolve_pooling(self, pooling: str, name_or_path, hf_config) -> str:
        if pooling != 'auto':
            return pooling
        if name_or_path is not None:
            try:
                folder = resolve_model_source(name_or_path).path
            except (OSError, ValueError):
                folder = None
            st_cfg = osp.join(folder or '', '1_Pooling', 'config.json')
            if folder and osp.isfile(st_cfg):
                with open(st_cfg) as f:
                    modes = json.load(f)
                if modes.get('pooling_mode_mean_tokens'):
                    return 'mean'
                if modes.get('pooling_mode_cls_token'):
                    return 'cls'
                if modes.get('pooling_mode_lasttoken'):
                    return 'last'
        if self.is_decoder_only:
            return 'last'
        if self.model_type.startswith('clip'):
            return 'eos'
        return 'mean'

    @property
    def is_decoder_only(self) -> bool:
        """Whether the LM is causal (decoder-only)."""
        config = self.lm.config
        if self.model_type in DECODER_ONLY_TYPES:
            return True
        archs = getattr(config, 'architectures', None) or ()
        return bool(getattr(config, 'is_decoder', False)) or any(
            a.endswith('ForCausalLM') for a in archs)

    def _has_input_embeds(self) -> bool:
        if 'inputs_embeds' not in self._lm_kwargs:
            return False
        try:
            emb = self.lm.get_input_embeddings()
        except (NotImplementedError, AttributeError):
            return False
        return isinstance(emb, nn.Module)

    def _resolve_max_length(self, max_length: Optional[int]) -> int:
        limits = []
        for name in ('max_position_embeddings', 'n_positions'):
            value = getattr(self.lm.config, name, None)
            if isinstance(value, int) and value > 0:
                limits.append(value)
                break
        model_max = getattr(self.tokenizer, 'model_max_length', None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            limits.append(model_max)
        if max_length is not None:
            limits.append(int(max_length))
        return min(limits) if limits else 512

    def _inject_lora(self, lora: dict) -> None:
        try:
            from peft import LoraConfig, inject_adapter_in_model
            from peft.utils.constants import \
                TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TARGETS
        except ImportError as err:
            raise ImportError('lora=... needs the peft package: '
                              'pip install peft') from err
        if lora.get('target_modules') is None:
            targets = TARGETS.get(self.model_type)
            if targets is None:
                raise ValueError(
                    f"No default LoRA target modules for model_type "
                    f"'{self.model_type}'; set lora=dict(target_modules=[...]) "
                    'with the names of its attention projections.')
            lora['target_modules'] = list(targets)
        if self.model_type == 'gpt2':
            # GPT-2 stores its projections transposed (Conv1D).
            lora.setdefault('fan_in_fan_out', True)
        inject_adapter_in_model(LoraConfig(**lora), self.lm)
        for name, param in self.lm.named_parameters():
            param.requires_grad_('lora_' in name)

    def _build_prefix(self, prefix_length: int,
                      prefix_init: Optional[str]) -> Optional[nn.Parameter]:
        if prefix_length == 0 and prefix_init is None:
            if self.prefix_classes:
                raise ValueError('prefix_classes needs a prefix: set '
                                 'prefix_length or prefix_init.')
            return None
        if not self.supports_input_embeds:
            raise ValueError(
                f'A learnable prefix needs access to the input embeddings of '
                f'the LM, but {type(self.lm).__name__} has no usable '
                'get_input_embeddings() / inputs_embeds argument. Use '
                'prefix_length=0 with this model.')
        table = self.lm.get_input_embeddings().weight.detach().float()
        rows = torch.empty(0, self.hidden_size)
        if prefix_init is not None:
            if not prefix_init.strip():
                raise ValueError('prefix_init is blank; give a phrase such as '
                                 "'a photo of a', or None for a random prefix.")
            ids = self.tokenizer(prefix_init, add_special_tokens=False)['input_ids']
            if prefix_length and len(ids) > prefix_length:
                raise ValueError(
                    f"prefix_init '{prefix_init}' is {len(ids)} tokens long but "
                    f'prefix_length={prefix_length}; set prefix_length >= '
                    f'{len(ids)} or 0 (use the phrase length).')
            rows = table[ids].clone()
            prefix_length = prefix_length or len(ids)
        extra = prefix_length - rows.shape[0]
        if extra > 0:
            std = float(table.std())
            rows = torch.cat([rows, torch.randn(extra, self.hidden_size) * std])
        if self.prefix_classes:
            rows = rows.unsqueeze(0).repeat(len(self.prefix_classes), 1, 1)
        return nn.Parameter(rows)

    def _build_deep_prefix(self, length: int) -> Optional[nn.Parameter]:
        """``[layers, 2 (key, value), kv_heads, length, head_dim]``."""
        if length == 0:
            return None
        if length < 0:
            raise ValueError(f'deep_prefix_length must be >= 0, got {length}.')
        if not self.is_decoder_only or 'past_key_values' not in self._lm_kwargs:
            raise ValueError(
                'deep_prefix_length needs a decoder-only LM that takes '
                f'past_key_values; {type(self.lm).__name__} '
                f"(model_type '{self.model_type}') does not. Use "
                'prefix_length (input-level prefix) instead.')
        config = self.lm.config
        layers = getattr(config, 'num_hidden_layers', None) or config.n_layer
        heads = getattr(config, 'num_attention_heads', None) or config.n_head
        kv_heads = getattr(config, 'num_key_value_heads', None) or heads
        head_dim = getattr(config, 'head_dim', None) or self.hidden_size // heads
        return nn.Parameter(
            torch.randn(layers, 2, kv_heads, length, head_dim) * 0.02)

    def _deep_prefix_cache(self, batch: int):
        """A fresh ``DynamicCache`` pre-filled with the deep prefix."""
        from transformers import DynamicCache
        cache = DynamicCache(config=self.lm.config)
        dtype = next(self.lm.parameters()).dtype
        for layer, (keys, values) in enumerate(self.deep_prefix.to(dtype)):
            cache.update(
                keys.unsqueeze(0).expand(batch, -1, -1, -1),
                values.unsqueeze(0).expand(batch, -1, -1, -1), layer)
        return cache

    # ------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> 'HFTextEncoder':
        """Set train/eval mode; a frozen LM always stays in eval mode."""
        super().train(mode)
        if self.freeze_lm:
            self.lm.eval()
        return self

    def lm_input_parameters(self) -> List[nn.Parameter]:
        """Parameters that change the LM's output: prefix and LM weights."""
        params = list(self.lm.parameters())
        for extra in (self.prefix, getattr(self, 'deep_prefix', None)):
            if extra is not None:
                params.append(extra)
        return params

    @property
    def has_learnable_lm_inputs(self) -> bool:
        """Whether any parameter feeding the LM is trained (prefix, LoRA,
        unfrozen LM)."""
        return any(p.requires_grad for p in self.lm_input_parameters())

    def excluded_lm_state_names(self) -> List[str]:
        """Names (relative to ``lm.``) left out of the state_dict: every
        frozen LM parameter and every persistent LM buffer."""
        names = [n for n, p in self.lm.named_parameters() if not p.requires_grad]
        return names + list(self._persistent_lm_buffers())

    def _persistent_lm_buffers(self) -> Dict[str, Tensor]:
        """LM buffers that ``state_dict`` would write (non-persistent ones,
        such as rotary frequencies, are rebuilt by the model)."""
        found = {}
        for module_name, module in self.lm.named_modules():
            skip = getattr(module, '_non_persistent_buffers_set', set())
            for name, buf in module.named_buffers(recurse=False):
                if buf is not None and name not in skip:
                    key = f'{module_name}.{name}' if module_name else name
                    found[key] = buf
        return found

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Checkpoints leave the frozen LM out; fill its entries with the
        # weights already built so that loading reports no missing keys.
        own = dict(self.lm.named_parameters())
        own.update(self._persistent_lm_buffers())
        for name in self.excluded_lm_state_names():
            key = prefix + 'lm.' + name
            if key not in state_dict:
                state_dict[key] = own[name]
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def invalidate_cache(self) -> None:
        """Forget cached LM features (done automatically when parameters
        feeding the LM change in place, e.g. by an optimizer step)."""
        self.cache.clear()
        self._cache_epoch += 1

    # ---------------------------------------------------------- tokenising
    def _tokenize(self, prompts: Sequence[str]) -> List[List[int]]:
        """Token ids of every prompt, truncated to the length budget."""
        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=True)['input_ids']
        return [self._fit(list(seq), prompt) for seq, prompt in zip(ids, prompts)]

    def _fit(self, seq: List[int], prompt: str,
             num_extra: int = 0) -> List[int]:
        append_eos = self.pooling == 'eos' and (not seq
                                                or seq[-1] != self._eos_id)
        deep = 0 if self.deep_prefix is None else self.deep_prefix.shape[3]
        budget = self.max_length - self.prefix_length - deep - num_extra - \
            int(append_eos)
        if len(seq) > budget:
            if not self._warned_truncation:
                warnings.warn(
                    f'Prompt {prompt[:60]!r}... is {len(seq)} tokens long; '
                    f'the model takes {self.max_length} per sequence '
                    f'(prefix {self.prefix_length}), so it and other long '
                    'prompts are truncated. This warning is shown once.',
                    UserWarning, stacklevel=4)
                self._warned_truncation = True
            special = set(self.tokenizer.all_special_ids)
            if seq[-1] in special and budget > 1:
                seq = seq[:budget - 1] + seq[-1:]
            else:
                seq = seq[:budget]
        if append_eos:
            seq = seq + [self._eos_id]
        return seq

    # ------------------------------------------------------------ LM call
    def _prefix_rows(self, slots: Tensor) -> Optional[Tensor]:
        """``[N, P, H]`` prefix of each sequence (class slot -1: shared or
        mean of class prefixes)."""
        if self.prefix is None:
            return None
        if self.prefix.dim() == 2:
            return self.prefix.unsqueeze(0).expand(slots.shape[0], -1, -1)
        table = torch.cat([self.prefix, self.prefix.mean(0, keepdim=True)])
        return table[slots.clamp(min=-1) % table.shape[0]]

    def _run_lm(self, token_lists: Sequence[List[int]], slots: Tensor,
                visual: Optional[Tensor] = None) -> Tensor:
        """Run the LM on ``[head] [visual] [prefix] text`` sequences.

        Args:
            token_lists (Sequence[list[int]]): Token ids per sequence.
            slots (Tensor): ``[N]`` class-prefix slot per sequence.
            visual (Tensor, optional): ``[N, V, H]`` visual tokens.

        Returns:
            Tensor: ``[N, H]`` pooled float32 features.
        """
        device = self.projection_device
        dtype = next(self.lm.parameters()).dtype
        n = len(token_lists)
        lengths = [len(t) for t in token_lists]
        max_tokens = max(max(lengths), 1)
        ids = torch.zeros(n, max_tokens, dtype=torch.long, device=device)
        for i, seq in enumerate(token_lists):
            ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        prefix = self._prefix_rows(slots.to(device))
        if prefix is None and visual is None and not self.supports_input_embeds:
            return self._run_lm_on_ids(ids, lengths)
        tokens = self.lm.get_input_embeddings()(ids).to(dtype)
        rows = []
        for i, seq in enumerate(token_lists):
            head = 1 if seq and seq[0] in self._head_ids else 0
            pieces = [tokens[i, :head]]
            if visual is not None:
                pieces.append(visual[i].to(dtype))
            if prefix is not None:
                pieces.append(prefix[i].to(dtype))
            pieces.append(tokens[i, head:lengths[i]])
            rows.append(torch.cat(pieces, dim=0))
        return self._forward_embeds(rows)

    def _forward_embeds(self, rows: List[Tensor]) -> Tensor:
        """Pad variable-length embedding rows, run the LM and pool."""
        device = rows[0].device
        lengths = torch.tensor([r.shape[0] for r in rows], device=device)
        left = self.tokenizer.padding_side == 'left'
        if left:
            rows = [r.flip(0) for r in rows]
        embeds = nn.utils.rnn.pad_sequence(rows, batch_first=True)
        positions = torch.arange(embeds.shape[1], device=device)
        mask = (positions.unsqueeze(0) < lengths.unsqueeze(1)).long()
        if left:
            embeds, mask = embeds.flip(1), mask.flip(1)
        return self._call_lm(dict(inputs_embeds=embeds), mask)

    def _run_lm_on_ids(self, ids: Tensor, lengths: List[int]) -> Tensor:
        lengths_t = torch.tensor(lengths, device=ids.device)
        positions = torch.arange(ids.shape[1], device=ids.device)
        mask = (positions.unsqueeze(0) < lengths_t.unsqueeze(1)).long()
        ids = ids.masked_fill(mask == 0, self.tokenizer.pad_token_id or 0)
        if self.tokenizer.padding_side == 'left':
            order = torch.argsort(mask, dim=1, stable=True)
            ids, mask = ids.gather(1, order), mask.gather(1, order)
        return self._call_lm(dict(input_ids=ids), mask)

    def _call_lm(self, inputs: dict, mask: Tensor) -> Tensor:
        kwargs = dict(inputs, attention_mask=mask)
        offset = 0
        if self.deep_prefix is not None:
            offset = self.deep_prefix.shape[3]
            kwargs['past_key_values'] = self._deep_prefix_cache(mask.shape[0])
            kwargs['attention_mask'] = torch.cat(
                [mask.new_ones(mask.shape[0], offset), mask], dim=1)
        if 'position_ids' in self._lm_kwargs:
            # Positions count valid tokens only: identical results for left
            # and right padding.
            kwargs['position_ids'] = (mask.cumsum(1) - 1).clamp(min=0) + offset
        if 'use_cache' in self._lm_kwargs:
            kwargs['use_cache'] = self.deep_prefix is not None
        self.lm_calls += 1
        out = self.lm(**kwargs)
        hidden = out.last_hidden_state if hasattr(
            out, 'last_hidden_state') else out[0]
        return pool_hidden_states(hidden, mask, self.pooling).float()

    @property
    def projection_device(self) -> torch.device:
        """Device of the encoder's weights."""
        return next(self.lm.parameters()).device

    # ------------------------------------------------------------ encoding
    def _prefix_slot(self, names: Tuple[str, ...]) -> int:
        if not self.prefix_classes or not names:
            return -1
        return self._prefix_class_index.get(names[0], -1)

    def encode_prompts(self, prompts: Sequence[str],
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
        grad = torch.is_grad_enabled() and self.training and any(
            p.requires_grad for p in params)
        if grad:
            feats = self._encode_unique(unique)
        else:
            version = self._cache_epoch + sum(p._version for p in params)
            feats = self._encode_cached(unique, version)
        return feats[index.to(feats.device)]

    def _encode_unique(self, keys: List[Tuple[str, int]]) -> Tensor:
        token_lists = self._tokenize([k[0] for k in keys])
        # Batch prompts of similar length together (less padding), then
        # restore the original order.
        order = sorted(range(len(keys)), key=lambda i: len(token_lists[i]))
        chunks = []
        for start in range(0, len(keys), self.encode_batch_size):
            part = order[start:start + self.encode_batch_size]
            slots = torch.tensor([keys[i][1] for i in part], dtype=torch.long)
            chunks.append(self._run_lm([token_lists[i] for i in part], slots))
        feats = torch.cat(chunks)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return feats[inverse.to(feats.device)]

    def _encode_cached(self, keys: List[Tuple[str, int]],
                       version: int) -> Tensor:
        device = self.projection_device
        found: Dict[Tuple[str, int], Tensor] = {}
        todo = []
        for key in keys:
            hit = self.cache.get((key, version))
            if hit is None:
                todo.append(key)
            else:
                found[key] = hit.to(device)
        if todo:
            with torch.no_grad():
                feats = self._encode_unique(todo)
            for key, feat in zip(todo, feats):
                self.cache.put((key, version), feat)
                found[key] = feat
        return torch.stack([found[k] for k in keys])

    def _project_and_average(self, feats: Tensor, owners: Tensor,
                             num_entries: int) -> Tensor:
        """Project ``[..., N, H]`` prompt features, normalise, average per
        vocabulary entry and normalise again -> ``[..., K, D]``."""
        proj = F.normalize(self.projection(feats), dim=-1)
        # one-hot [K, N] assignment: a matmul sums each entry's prompts
        # (much faster than index_add_ on CPU, and batched over images).
        assign = F.one_hot(owners, num_entries).t().to(proj.dtype)
        return F.normalize(torch.matmul(assign, proj), dim=-1)

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
        """
        entries = normalize_vocabulary(texts, allow_padding=True)
        prompts, owners = expand_prompts(entries, self.templates)
        slots = [self._prefix_slot(entries[o]) for o in owners]
        owners_t = torch.tensor(owners, dtype=torch.long,
                                device=self.projection_device)
        if visual_tokens is None:
            feats = self.encode_prompts(prompts, slots)
        else:
            feats = self._encode_with_visual(prompts, slots, visual_tokens)
        return self._project_and_average(feats, owners_t, len(entries))

    def forward(self, texts: Sequence[VocabEntry]) -> Tensor:
        """Same as :meth:`encode_vocabulary` without image conditioning."""
        return self.encode_vocabulary(texts)

    def _check_visual(self, visual_tokens: Tensor) -> None:
        if not self.supports_input_embeds:
            raise ValueError(
                f'A visual prefix needs the input embeddings of the LM, but '
                f'{type(self.lm).__name__} gives no access to them.')
        if visual_tokens.dim() != 3 or visual_tokens.shape[-1] != self.hidden_size:
            raise ValueError(
                f'visual_tokens must be [B, V, {self.hidden_size}] (the LM '
                f'width), got {tuple(visual_tokens.shape)}.')

    def _encode_with_visual(self, prompts: Sequence[str], slots: List[int],
                            visual_tokens: Tensor) -> Tensor:
        """``[B, N, H]`` features of every prompt conditioned on every
        image's visual tokens (B x N LM sequences, never cached)."""
        self._check_visual(visual_tokens)
        num_images, num_visual = visual_tokens.shape[:2]
        token_lists = [
            self._fit(list(seq), p, num_visual) for seq, p in zip(
                self.tokenizer(list(prompts))['input_ids'], prompts)
        ]
        slots_t = torch.tensor(slots, dtype=torch.long)
        out = []
        step = max(1, self.encode_batch_size // max(1, len(prompts)))
        for start in range(0, num_images, step):
            imgs = range(start, min(num_images, start + step))
            seqs = [t for _ in imgs for t in token_lists]
            vis = torch.cat([
                visual_tokens[b].unsqueeze(0).expand(len(prompts), -1, -1)
                for b in imgs
            ])
            feats = self._run_lm(seqs, slots_t.repeat(len(imgs)), vis)
            out.append(feats.view(len(imgs), len(prompts), -1))
        return torch.cat(out)

    def encode_visual_context(self, visual_tokens: Tensor) -> Tensor:
        """One projected LM feature per image from ``[head] visual prefix``
        alone (B LM sequences): the cheap image-conditioning mode.

        Args:
            visual_tokens (Tensor): ``[B, V, H]``.

        Returns:
            Tensor: ``[B, D]`` projected (not normalised) features.
        """
        self._check_visual(visual_tokens)
        empty = list(self.tokenizer('')['input_ids'])
        if self.pooling == 'eos' and (not empty or empty[-1] != self._eos_id):
            empty = empty + [self._eos_id]
        seqs = [empty] * visual_tokens.shape[0]
        slots = torch.full((len(seqs), ), -1, dtype=torch.long)
        feats = self._run_lm(seqs, slots, visual_tokens)
        return self.projection(feats)

    def input_embedding_std(self) -> float:
        """Standard deviation of the LM's token embeddings (scale of its
        input space, used to initialise visual-token projections)."""
        if not self.supports_input_embeds:
            return 0.02
        return float(self.lm.get_input_embeddings().weight.detach().float().std())
