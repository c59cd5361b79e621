"""Facts about a loaded Hugging Face model, read from its config and modules.

Architectures name the same quantity differently (GPT-2's ``n_embd`` is
BERT's ``hidden_size``); these functions are the only places that read such
attributes, so that a renamed attribute is handled once. Call signatures
are probed in :mod:`.hf_compat`.
"""
from typing import Any, FrozenSet, Tuple

from torch import Tensor, nn

#: model_type values of decoder-only (causal) language models.
DECODER_ONLY_TYPES = frozenset({
    'gpt2', 'gpt_neo', 'gpt_neox', 'gptj', 'llama', 'mistral', 'mixtral',
    'qwen2', 'qwen2_moe', 'qwen3', 'gemma', 'gemma2', 'gemma3_text', 'phi',
    'phi3', 'opt', 'bloom', 'falcon', 'olmo', 'olmo2', 'starcoder2',
    'stablelm', 'cohere', 'granite', 'smollm3', 'codegen'
})


def _first_int(config, names: Tuple[str, ...]):
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def model_type(config) -> str:
    """``config.model_type`` (``''`` when the config has none)."""
    return getattr(config, 'model_type', '') or ''


def hidden_size(config) -> int:
    """Width of the model's hidden states.

    Args:
        config: A ``PretrainedConfig``.

    Returns:
        int: ``hidden_size`` (or ``n_embd``, ``d_model``, ``dim``).
    """
    value = _first_int(config, ('hidden_size', 'n_embd', 'd_model', 'dim'))
    if value is None:
        raise ValueError(f'Cannot read the hidden width of {type(config)}.')
    return value


def max_positions(config) -> int:
    """Longest sequence the model's position embeddings cover (0: unknown).
    """
    for name in ('max_position_embeddings', 'n_positions'):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def is_decoder_only(config) -> bool:
    """Whether a model is causal (decoder-only), from its config.

    Args:
        config: A ``PretrainedConfig``.

    Returns:
        bool: True for GPT-2, Llama, Qwen2, ... (by ``model_type``,
        ``is_decoder`` or a ``*ForCausalLM`` architecture name).
    """
    if model_type(config) in DECODER_ONLY_TYPES:
        return True
    archs = getattr(config, 'architectures', None) or ()
    return bool(getattr(config, 'is_decoder', False)) or any(
        a.endswith('ForCausalLM') for a in archs)


def attention_shape(config) -> Tuple[int, int, int]:
    """Layers, key/value heads and head width of a decoder's attention.

    Args:
        config: A ``PretrainedConfig`` of a decoder-only model.

    Returns:
        tuple[int, int, int]: ``(layers, kv_heads, head_dim)``.
    """
    layers = _first_int(config, ('num_hidden_layers', 'n_layer'))
    heads = _first_int(config, ('num_attention_heads', 'n_head'))
    if layers is None or heads is None:
        raise ValueError('Cannot read the layer and head counts of '
                         f'{type(config).__name__}.')
    kv_heads = getattr(config, 'num_key_value_heads', None) or heads
    head_dim = getattr(config, 'head_dim',
                       None) or hidden_size(config) // heads
    return layers, kv_heads, head_dim


def input_embedding_table(model: nn.Module, forward_args: FrozenSet[str]):
    """The token-embedding module of a model that accepts ``inputs_embeds``.

    Args:
        model (nn.Module): A Hugging Face model.
        forward_args (frozenset[str]): Its forward arguments
            (:func:`.hf_compat.forward_arguments`).

    Returns:
        nn.Module | None: The embedding table, or None when the model takes
        no ``inputs_embeds`` or gives no access to its embeddings (then no
        prefix or visual token can be fed).
    """
    if 'inputs_embeds' not in forward_args:
        return None
    try:
        table = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        return None
    return table if isinstance(table, nn.Module) else None


def embedding_std(table: nn.Module) -> float:
    """Standard deviation of an embedding table's weights (the scale of a
    model's input space)."""
    return float(table.weight.detach().float().std())


def last_hidden_state(output: Any) -> Tensor:
    """``[N, L, H]`` last hidden states of a model output (object or
    tuple)."""
    if hasattr(output, 'last_hidden_state'):
        return output.last_hidden_state
    return output[0]
