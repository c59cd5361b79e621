"""Loading a Hugging Face tokenizer and language model for a text encoder.

Pure functions of the text encoder's config keys: where the model comes
from (:mod:`.model_sources`), its dtype, its tokenizer, its pooling mode and
its maximum sequence length.

A tokenizer is given as a name (alias / folder / hub id), as a
``PreTrainedTokenizerBase`` object, or as a config ``dict(type=..., **kw)``
built through :data:`TOKENIZERS`, whose ``type`` is a registered name or a
dotted import path of a function returning a tokenizer (mmengine's lazy
import). Names registered in :data:`TOKENIZERS` also work as plain strings.
"""
import json
import os
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.registry import Registry
from torch import nn

from .hf_model_info import is_decoder_only, max_positions, model_type
from .model_sources import (MODEL_ALIASES, ModelSource, alias_help,
                            resolve_model_source)
from .text_pooling import POOLING_MODES

#: Builders of tokenizers made in code (tests, custom vocabularies), by
#: name: ``TOKENIZERS.register_module('my-bpe', module=build_my_bpe)``.
TOKENIZERS = Registry('tokenizer')

#: Accepted ``torch_dtype`` names.
TORCH_DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'float16': torch.float16,
    'fp16': torch.float16,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
}


def resolve_torch_dtype(name: Optional[str]) -> Optional[torch.dtype]:
    """The torch dtype of a ``torch_dtype`` name (None: the model's own).

    Raises:
        ValueError: Unknown name (the message lists the accepted ones).
    """
    if name is None:
        return None
    if name not in TORCH_DTYPES:
        raise ValueError(f"torch_dtype='{name}' is unknown; use one of "
                         f'{sorted(TORCH_DTYPES)}.')
    return TORCH_DTYPES[name]


def check_model_arguments(name_or_path: Optional[str],
                          hf_config: Optional[dict], tokenizer) -> None:
    """Refuse a model given twice, not at all, or random without tokenizer.

    Raises:
        ValueError: The message names the fix.
    """
    if tokenizer is None and hf_config is not None:
        raise ValueError('hf_config builds a random model and needs a '
                         "tokenizer: set tokenizer='minilm' (WordPiece), a "
                         'tokenizer folder, a PreTrainedTokenizerBase object '
                         'or a TOKENIZERS config.')
    if hf_config is not None and name_or_path is not None:
        raise ValueError('Give either name_or_path (pretrained weights) or '
                         'hf_config (random weights), not both.')
    if hf_config is None and name_or_path is None:
        raise ValueError('HFTextEncoder needs name_or_path: an offline '
                         f'alias ({alias_help()}) or a local folder.')


def check_remote_code(folder: str, name: str,
                      trust_remote_code: bool) -> None:
    """Refuse a local model folder whose files name code to run, unless
    ``trust_remote_code`` is True.

    Args:
        folder (str): The resolved model folder (anything else is left to
            transformers, which gets ``trust_remote_code`` explicitly).
        name (str): The name it was given as (for the message).
        trust_remote_code (bool): The text encoder's option.

    Raises:
        ValueError: ``auto_map`` in ``config.json`` or
            ``tokenizer_config.json`` while ``trust_remote_code`` is False;
            the message names the folder, the files, the code and the
            option.
    """
    if trust_remote_code or not osp.isdir(folder):
        return
    found = []
    for file in ('config.json', 'tokenizer_config.json'):
        path = osp.join(folder, file)
        if not osp.isfile(path):
            continue
        try:
            with open(path) as f:
                auto_map = json.load(f).get('auto_map')
        except (ValueError, AttributeError):
            continue  # not a json object: transformers reports it
        if auto_map:
            found.append(f'{file}: auto_map={auto_map}')
    if found:
        raise ValueError(
            f"The model folder '{folder}' (from '{name}') asks to run Python "
            f"code shipped with it ({'; '.join(found)}). mmvlm does not run "
            'code from model files unless told to: if you trust this code, '
            'set trust_remote_code=True in the text encoder config (e.g. '
            '--cfg-options model.neck.text_encoder.trust_remote_code=True, '
            'or the key where your config builds HFTextEncoder); otherwise '
            'use a model that transformers supports without custom code.')


def _pretrained_kwargs(source: ModelSource, local_files_only: bool,
                       revision: Optional[str],
                       trust_remote_code: bool = False) -> dict:
    if not isinstance(trust_remote_code, bool):
        raise TypeError(f'trust_remote_code={trust_remote_code!r} must be '
                        'True or False (default False: code shipped with a '
                        'model never runs).')
    kwargs = dict(local_files_only=local_files_only,
                  trust_remote_code=trust_remote_code)
    if revision is not None:
        kwargs['revision'] = revision
    if source.gguf_file is not None:
        kwargs['gguf_file'] = source.gguf_file
    return kwargs


#: Files any one of which lets ``AutoTokenizer`` build a tokenizer from a
#: folder: a ``tokenizers`` serialisation, or a slow tokenizer's vocabulary
#: (WordPiece, byte-level BPE, SentencePiece, tiktoken).
TOKENIZER_FILES = ('tokenizer.json', 'vocab.txt', 'vocab.json',
                   'spiece.model', 'tokenizer.model',
                   'sentencepiece.bpe.model', 'tokenizer.tiktoken')


def check_tokenizer_files(folder: str, name: str) -> None:
    """Raise a clear error when a local model folder has no tokenizer.

    Without this, ``AutoTokenizer`` reports a missing ``sentencepiece`` or
    ``tiktoken`` package instead of the missing files.

    Args:
        folder (str): The resolved model folder.
        name (str): The name it was given as (for the message).
    """
    if not osp.isdir(folder) or any(
            osp.isfile(osp.join(folder, f)) for f in TOKENIZER_FILES):
        return
    present = sorted(os.listdir(folder))
    shown = ', '.join(present[:12]) + (' ...' if len(present) > 12 else '')
    raise FileNotFoundError(
        f"The model folder '{folder}' (from '{name}') has no tokenizer "
        f"files: none of {', '.join(TOKENIZER_FILES)} is there (found: "
        f"{shown or 'nothing'}). Copy the tokenizer files of the model into "
        'the folder (save_pretrained of its tokenizer writes them), or set '
        "the text encoder's tokenizer= to a folder, alias or TOKENIZERS "
        'name that has them.')


def _load_tokenizer(name: str, gguf_file: Optional[str],
                    local_files_only: bool, revision: Optional[str],
                    trust_remote_code: bool = False):
    from transformers import AutoTokenizer
    if name in TOKENIZERS.module_dict:
        return TOKENIZERS.build(dict(type=name))
    try:
        source = resolve_model_source(name, gguf_file, local_files_only)
    except FileNotFoundError as err:
        if name.strip().lower() in MODEL_ALIASES:
            raise
        registered = sorted(TOKENIZERS.module_dict)
        raise FileNotFoundError(
            f'{err} Tokenizers built in code are registered by name in '
            f'TOKENIZERS (registered now: {registered}); a test helper '
            'registers its names when its package is imported.') from err
    kwargs = _pretrained_kwargs(source, local_files_only, revision,
                                trust_remote_code)
    check_remote_code(source.path, name, trust_remote_code)
    if source.gguf_file is None:
        check_tokenizer_files(source.path, name)
    try:
        return AutoTokenizer.from_pretrained(source.path, **kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"Could not load a tokenizer from '{source.path}' (from "
                      f"'{name}'): {err}. Known offline aliases: "
                      f'{alias_help()}.') from err


def build_tokenizer(tokenizer: Union[None, str, dict, object],
                    name_or_path: Optional[str] = None,
                    gguf_file: Optional[str] = None,
                    local_files_only: bool = True,
                    revision: Optional[str] = None,
                    padding_side: Optional[str] = None,
                    trust_remote_code: bool = False):
    """The tokenizer of a text encoder, with a pad token.

    Args:
        tokenizer (str | dict | PreTrainedTokenizerBase, optional): A name
            (registered in :data:`TOKENIZERS`, an alias, a folder or a hub
            id), a ``TOKENIZERS`` config, or a tokenizer object (used as it
            is: its pad token and padding side may be set). None: read it
            from ``name_or_path``.
        name_or_path (str, optional): The model's name or folder.
        gguf_file (str, optional): GGUF file of ``name_or_path`` (used only
            when the tokenizer comes from ``name_or_path``).
        local_files_only (bool): Never contact a model hub.
        revision (str, optional): Hub revision.
        padding_side (str, optional): ``'left'`` / ``'right'``; None keeps
            the tokenizer's.
        trust_remote_code (bool): Let a tokenizer folder run the code its
            ``tokenizer_config.json`` names (``auto_map``). Default False.

    Returns:
        transformers.PreTrainedTokenizerBase: The tokenizer.
    """
    from transformers import PreTrainedTokenizerBase
    if padding_side not in (None, 'left', 'right'):
        raise ValueError(f"padding_side='{padding_side}' must be 'left', "
                         "'right' or None (the tokenizer's).")
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        tok = tokenizer
    elif isinstance(tokenizer, dict):
        tok = TOKENIZERS.build(tokenizer)
    elif tokenizer is None or isinstance(tokenizer, str):
        name = tokenizer if tokenizer is not None else name_or_path
        tok = _load_tokenizer(name, gguf_file if tokenizer is None else None,
                              local_files_only, revision, trust_remote_code)
    else:
        raise TypeError(
            'tokenizer must be a name, a TOKENIZERS config dict or a '
            f'PreTrainedTokenizerBase, got {type(tokenizer).__name__}.')
    if not isinstance(tok, PreTrainedTokenizerBase):
        raise TypeError(f'The tokenizer built from {tokenizer!r} is a '
                        f'{type(tok).__name__}, not a '
                        'PreTrainedTokenizerBase.')
    if tok.pad_token is None:
        # GPT-style tokenizers have no pad token. The encoder never feeds
        # pad ids to the LM (padding is masked and zero-embedded), so
        # reusing EOS / UNK avoids resizing the LM's embeddings.
        fallback = tok.eos_token or tok.unk_token or tok.bos_token
        if fallback is not None:
            tok.pad_token = fallback
        else:
            tok.add_special_tokens({'pad_token': '<pad>'})
    if padding_side is not None:
        tok.padding_side = padding_side
    return tok


def build_language_model(name_or_path: Optional[str],
                         hf_config: Optional[dict],
                         tokenizer,
                         gguf_file: Optional[str] = None,
                         local_files_only: bool = True,
                         revision: Optional[str] = None,
                         dtype: Optional[torch.dtype] = None,
                         trust_remote_code: bool = False) -> nn.Module:
    """Load a pretrained language model, or build a random one.

    Args:
        name_or_path (str, optional): Alias, folder, ``.gguf`` file or hub
            id (see :func:`.resolve_model_source`).
        hf_config (dict, optional): ``dict(model_type=..., **kwargs)`` of a
            randomly initialised model (instead of ``name_or_path``); the
            vocabulary size and special-token ids default to the
            tokenizer's; ``init_seed`` (default 0) seeds its weights, so
            the same config always builds the same model.
        tokenizer: The tokenizer (for ``hf_config``).
        gguf_file (str, optional): GGUF file inside ``name_or_path``.
        local_files_only (bool): Never contact a model hub.
        revision (str, optional): Hub revision.
        dtype (torch.dtype, optional): Weight dtype (None: float32).
        trust_remote_code (bool): Let a model folder run the code its
            ``config.json`` names (``auto_map``). Default False.

    Returns:
        nn.Module: The base model without LM head (``AutoModel``; CLIP's
        text tower for CLIP checkpoints).
    """
    from transformers import AutoConfig, AutoModel
    if hf_config is not None:
        cfg = dict(hf_config)
        kind = cfg.pop('model_type', None)
        if kind is None:
            raise ValueError("hf_config needs a 'model_type' key, e.g. "
                             "dict(model_type='bert', hidden_size=32).")
        seed = cfg.pop('init_seed', 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f'hf_config init_seed={seed!r}: give a whole '
                             'number (the seed of the random weights).')
        cfg.setdefault('vocab_size', len(tokenizer))
        # Special-token ids of the config must exist in the vocabulary.
        for key in ('bos_token_id', 'eos_token_id', 'pad_token_id'):
            cfg.setdefault(key, getattr(tokenizer, key, None))
        # A frozen LM is left out of checkpoints and rebuilt at load time,
        # so its random weights must not depend on the global random state
        # (a test script and the training runner seed differently).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            lm = AutoModel.from_config(AutoConfig.for_model(kind, **cfg))
        return lm if dtype is None else lm.to(dtype)
    source = resolve_model_source(name_or_path, gguf_file, local_files_only)
    kwargs = _pretrained_kwargs(source, local_files_only, revision,
                                trust_remote_code)
    check_remote_code(source.path, name_or_path, trust_remote_code)
    if dtype is not None:
        kwargs['dtype'] = dtype
    try:
        config = AutoConfig.from_pretrained(source.path, **kwargs)
        if model_type(config) == 'clip':
            from transformers import CLIPTextModel
            return CLIPTextModel.from_pretrained(source.path, **kwargs)
        return AutoModel.from_pretrained(source.path, **kwargs)
    except OSError as err:
        raise OSError(
            f"Could not load language model '{name_or_path}' from "
            f"'{source.path}' (local_files_only={local_files_only}): {err}. "
            f'Known offline aliases: {alias_help()}.') from err


def check_pooling(pooling: str) -> None:
    """Refuse an unknown pooling mode (the message lists the known ones)."""
    if pooling not in POOLING_MODES + ('auto', ):
        raise ValueError(f"pooling='{pooling}' is unknown; use one of "
                         f"{POOLING_MODES + ('auto', )}.")


def _sentence_transformers_pooling(name_or_path: str) -> Optional[str]:
    """Pooling mode of a sentence-transformers folder (None: not one)."""
    try:
        folder = resolve_model_source(name_or_path).path
    except (OSError, ValueError):
        return None
    st_cfg = osp.join(folder or '', '1_Pooling', 'config.json')
    if not folder or not osp.isfile(st_cfg):
        return None
    with open(st_cfg) as f:
        modes = json.load(f)
    for key, mode in (('pooling_mode_mean_tokens',
                       'mean'), ('pooling_mode_cls_token', 'cls'),
                      ('pooling_mode_lasttoken', 'last')):
        if modes.get(key):
            return mode
    return None


def resolve_pooling(pooling: str, name_or_path: Optional[str], config) -> str:
    """The pooling mode to use (``'auto'`` picks one by model).

    Args:
        pooling (str): ``'auto'`` or one of ``POOLING_MODES``.
        name_or_path (str, optional): Where the model came from.
        config: The model's ``PretrainedConfig``.

    Returns:
        str: ``pooling`` unless ``'auto'``; then the sentence-transformers
        pooling config when the folder has one, else ``'last'`` for
        decoder-only models, ``'eos'`` for CLIP and ``'mean'`` otherwise.
    """
    if pooling != 'auto':
        return pooling
    if name_or_path is not None:
        mode = _sentence_transformers_pooling(name_or_path)
        if mode is not None:
            return mode
    if is_decoder_only(config):
        return 'last'
    if model_type(config).startswith('clip'):
        return 'eos'
    return 'mean'


def resolve_max_length(config, tokenizer, max_length: Optional[int]) -> int:
    """Tokens per sequence: the smallest of the model's position limit, the
    tokenizer's ``model_max_length`` and ``max_length`` (512 if none)."""
    limits = []
    if max_positions(config):
        limits.append(max_positions(config))
    model_max = getattr(tokenizer, 'model_max_length', None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    if max_length is not None:
        limits.append(int(max_length))
    return min(limits) if limits else 512
