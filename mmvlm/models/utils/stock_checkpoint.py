"""Load a stock mmdet / mmseg checkpoint into its language-guided twin.

The key mapping happens where the keys are: ``LLMPrefixNeck`` moves the
stock neck's keys under its inner neck, and every language-guided head takes
its replaced class layer's tensors out of the state dict
(``LanguageGuidedHeadMixin.take_stock_tensors``). This module adds what
needs the whole model, run after every load by a state-dict post-hook
(:func:`register_stock_checkpoint_hook`): the optional warm start of the
contrastive classifiers from the stock class layers
(:func:`warm_start_from_stock`) and one log line naming every stock tensor
that was not loaded as it is, and why.
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from torch import nn

from mmvlm.structures import Vocabulary, VocabularyLike

#: Why the replaced class layer cannot be loaded as it is.
REPLACED_REASON = ('the stock class layer is replaced by the contrastive '
                   'classifier (the classes come from the text)')


def language_guided_head_names(model: nn.Module) -> List[Tuple[str, object]]:
    """``(key prefix, head)`` of every language-guided head of ``model``.

    Args:
        model (nn.Module): A language-guided detector / segmentor.

    Returns:
        list[tuple[str, LanguageGuidedHeadMixin]]: The heads with the
        prefix of their keys (``'bbox_head.'``).
    """
    heads = {id(h): h for h in model.language_guided_heads}
    return [(f'{name}.', module) for name, module in model.named_modules()
            if id(module) in heads]


def stock_tensors(model: nn.Module) -> Dict[str, object]:
    """The stock tensors the heads took out of the last loaded state dict,
    by full key."""
    found = {}
    for _, head in language_guided_head_names(model):
        found.update(head.stock_tensors)
    return found


def warm_start_classes(model: nn.Module, head,
                       classes: Optional[VocabularyLike]) -> Vocabulary:
    """The stock class names a head's classifier is warm started on.

    ``classes`` if given, else the head's ``classifier.warm_start``
    ``classes``, else the model's vocabulary (configured vocabulary, else
    ``dataset_meta['classes']``).

    Raises:
        ValueError: When none of them names the classes.
    """
    if classes is None:
        classes = (head.classifier.warm_start or {}).get('classes')
    if classes is not None:
        return Vocabulary.parse(classes, warn_duplicates=False)
    vocab = model.vocabulary
    if vocab is None:
        raise ValueError(
            f'Warm start of {type(head).__name__} from the stock class '
            'layer needs the stock model\'s class names, in its class '
            'order: set classifier=dict(warm_start=dict(classes=...)) in '
            "the head config (a list, or a dataset name such as "
            "'CocoDataset'), or the model's vocabulary.")
    return vocab


def warm_start_from_stock(model: nn.Module,
                          classes: Optional[VocabularyLike] = None,
                          heads: Optional[Sequence] = None) -> Dict[str, str]:
    """Initialise the language-guided heads from the loaded stock class
    layers, so that the model reproduces the stock logits on the stock
    class names.

    Call after loading a stock checkpoint (``load_state_dict`` keeps the
    stock class layers in each head's ``stock_tensors``). With
    ``classifier=dict(warm_start=True)`` on a head this runs by itself
    after every load of a stock checkpoint.

    Args:
        model (nn.Module): A language-guided detector / segmentor with a
            text neck.
        classes (VocabularyLike, optional): The stock model's class names
            in class order (a list, a dataset name, ...). None: each head's
            ``classifier.warm_start['classes']``, else the model's
            vocabulary.
        heads (Sequence, optional): The heads to warm start; None for every
            head that found a stock class layer.

    Returns:
        dict[str, str]: How each stock tensor was used, by full key.
    """
    if heads is None:
        heads = [
            h for _, h in language_guided_head_names(model) if h.stock_tensors
        ]
    if heads and not model.with_text_neck:
        raise RuntimeError(
            f'{type(model).__name__} has no text neck to embed the class '
            'names; warm start the language-guided model before baking.')
    used = {}
    for head in heads:
        vocab = warm_start_classes(model, head, classes)
        embeds = model.vocabulary_embeddings(list(vocab.entries))
        used.update(head.warm_start_from_stock(embeds))
    return used


def warm_started_prefixes(heads: Sequence[Tuple[str, object]]) -> tuple:
    """Key prefixes a warm start initialises: each head's classifier and
    the layers whose stock tensors it used (e.g. ``fc_reg``).

    Args:
        heads (Sequence[tuple[str, LanguageGuidedHeadMixin]]): ``(key
            prefix, head)`` of the warm-started heads.

    Returns:
        tuple[str, ...]: Key prefixes.
    """
    prefixes = []
    for prefix, head in heads:
        prefixes.append(f'{prefix}{head.classifier_name}.')
        prefixes += [
            key[:-len('weight')] for key in head.stock_tensors
            if key.endswith('weight')
        ]
    return tuple(prefixes)


def _format(tensors: Dict[str, object]) -> str:
    return ', '.join(f'{key} {list(value.shape)}'
                     for key, value in tensors.items())


def report_stock_checkpoint(model: nn.Module, incompatible_keys) -> None:
    """State-dict post-hook of a language-guided model: warm start and the
    one log line about a stock checkpoint.

    Does nothing for a checkpoint in the language-guided layout. For a
    stock one, warm starts the heads whose classifier asks for it
    (``warm_start``), takes their now initialised keys out of the missing
    keys, and logs (mmengine ``print_log``) which stock neck keys were
    mapped and which stock tensors were not loaded as they are, and why.
    ``model.stock_tensor_usage`` keeps how each stock tensor of the last
    load was used (key → text; empty for a language-guided checkpoint).

    Args:
        model (nn.Module): The language-guided model that was loaded.
        incompatible_keys: ``missing_keys`` / ``unexpected_keys`` of the
            load (changed in place).
    """
    neck = getattr(model, 'neck', None)
    mapped = list(getattr(neck, 'stock_keys_mapped', None) or [])
    heads = language_guided_head_names(model)
    found = stock_tensors(model)
    model.stock_tensor_usage = {}
    if not mapped and not found:
        return
    parts = [f'{type(model).__name__} loaded a stock checkpoint']
    if mapped:
        parts.append(f'{len(mapped)} stock neck keys mapped into '
                     'LLMPrefixNeck (neck.* -> neck.neck.*)')
    level = logging.INFO
    warm = [(p, h) for p, h in heads
            if h.stock_tensors and h.classifier.warm_start is not None]
    cold = {
        k: v
        for p, h in heads if h.classifier.warm_start is None
        for k, v in h.stock_tensors.items()
    }
    if warm:
        used = warm_start_from_stock(model, heads=[h for _, h in warm])
        initialised = warm_started_prefixes(warm)
        incompatible_keys.missing_keys[:] = [
            k for k in incompatible_keys.missing_keys
            if not k.startswith(initialised)
        ]
        parts.append('warm start: ' +
                     '; '.join(f'{key} {list(found[key].shape)}: {how}'
                               for key, how in used.items()))
        model.stock_tensor_usage.update(used)
    if cold:
        level = logging.WARNING
        model.stock_tensor_usage.update(
            {key: f'not loaded: {REPLACED_REASON}'
             for key in cold})
        parts.append(
            f'not loaded: {_format(cold)}: {REPLACED_REASON}; set '
            "classifier=dict(warm_start=True) on the head to initialise "
            'it from them (docs/stock_checkpoints.md)')
    print_log('; '.join(parts) + '.', logger='current', level=level)


def register_stock_checkpoint_hook(model: nn.Module) -> None:
    """Run :func:`report_stock_checkpoint` after every ``load_state_dict``
    of ``model`` (torch's and mmengine's ``load_state_dict`` both run
    state-dict post-hooks)."""
    model.stock_tensor_usage = {}
    model.register_load_state_dict_post_hook(report_stock_checkpoint)
