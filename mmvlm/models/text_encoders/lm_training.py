"""How the language model of a text encoder trains, and what is saved of it.

The LM is frozen (the default), adapted with LoRA (base weights frozen,
``lora_*`` weights trained) or trained whole. Frozen tensors come back from
``name_or_path`` at every build, so they are left out of checkpoints and
filled in again when a checkpoint is loaded.
"""
from typing import Dict, List, Optional

from torch import Tensor, nn

from .hf_compat import default_lora_targets


def check_training_mode(freeze_lm: bool, lora: Optional[dict]) -> None:
    """Refuse LoRA on an LM that is trained whole (ValueError)."""
    if lora is not None and not freeze_lm:
        raise ValueError('lora and freeze_lm=False both train the LM; '
                         'choose one (LoRA keeps the base weights frozen).')


def freeze(lm: nn.Module) -> None:
    """Freeze every LM weight and put the LM in eval mode."""
    lm.requires_grad_(False)
    lm.eval()


def inject_lora(lm: nn.Module, lora: dict, model_type: str) -> None:
    """Add LoRA adapters to ``lm`` in place; only they train afterwards.

    Args:
        lm (nn.Module): The language model.
        lora (dict): ``peft.LoraConfig`` arguments, e.g.
            ``dict(r=8, lora_alpha=16)``. ``target_modules`` defaults to
            peft's choice for ``model_type``.
        model_type (str): ``config.model_type`` of the LM.
    """
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError('lora=... needs the peft package: '
                          'pip install peft') from err
    lora = dict(lora)
    if lora.get('target_modules') is None:
        targets = default_lora_targets(model_type)
        if targets is None:
            raise ValueError(
                f"No default LoRA target modules for model_type "
                f"'{model_type}'; set lora=dict(target_modules=[...]) with "
                'the names of its attention projections.')
        lora['target_modules'] = targets
    if model_type == 'gpt2':
        # GPT-2 stores its projections transposed (Conv1D).
        lora.setdefault('fan_in_fan_out', True)
    inject_adapter_in_model(LoraConfig(**lora), lm)
    for name, param in lm.named_parameters():
        param.requires_grad_('lora_' in name)


def persistent_buffers(module: nn.Module) -> Dict[str, Tensor]:
    """Buffers that ``state_dict`` would write (non-persistent ones, such as
    rotary frequencies, are rebuilt by the model), by name."""
    found = {}
    for module_name, sub in module.named_modules():
        skip = getattr(sub, '_non_persistent_buffers_set', set())
        for name, buf in sub.named_buffers(recurse=False):
            if buf is not None and name not in skip:
                found[f'{module_name}.{name}' if module_name else name] = buf
    return found


def frozen_state_names(lm: nn.Module) -> List[str]:
    """Names (relative to the LM) left out of checkpoints: every frozen
    parameter and every persistent buffer."""
    names = [n for n, p in lm.named_parameters() if not p.requires_grad]
    return names + list(persistent_buffers(lm))


def drop_frozen_state(lm: nn.Module, state_dict: dict, prefix: str) -> None:
    """Remove the frozen LM tensors under ``prefix`` from a state dict."""
    for name in frozen_state_names(lm):
        state_dict.pop(prefix + name, None)


def fill_frozen_state(lm: nn.Module, state_dict: dict, prefix: str) -> None:
    """Put the LM's own frozen tensors under ``prefix`` into a state dict
    that lacks them, so that loading reports no missing LM keys."""
    own = dict(lm.named_parameters())
    own.update(persistent_buffers(lm))
    for name in frozen_state_names(lm):
        state_dict.setdefault(prefix + name, own[name])
