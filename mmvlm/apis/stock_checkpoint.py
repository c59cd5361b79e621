"""Convert a stock mmdet / mmseg checkpoint into a language-guided one.

Design notes: ``docs/design.md`` (module notes)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, DefaultScope
from mmengine.runner import save_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.utils import import_modules_from_strings

from mmvlm.structures import Vocabulary, VocabularyLike


def _dataloader_datasets(cfg: Config) -> List[dict]:
    """The dataset configs of the test / val / train dataloaders, with
    wrapped datasets (``MultiModalDataset``, ``RepeatDataset``) unwrapped."""
    found = []
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        while dataset is not None:
            found.append(dataset)
            dataset = dataset.get('dataset')
    return found


def config_class_names(cfg: Config) -> Optional[list]:
    """The dataset classes a config trains / tests on.

    The ``metainfo.classes`` of its dataloaders' datasets, else the
    registered dataset type's ``METAINFO['classes']``.

    Args:
        cfg (Config): A model config.

    Returns:
        list | None: Class names, None when the config names none.
    """
    datasets = _dataloader_datasets(cfg)
    for dataset in datasets:
        classes = (dataset.get('metainfo') or {}).get('classes')
        if classes:
            return list(classes)
    for dataset in datasets:
        dataset_cls = DATASETS.get(dataset.get('type', ''))
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        if classes:
            return list(classes)
    return None


def _load_class_texts_cfg(cfg: Config) -> Optional[dict]:
    """The ``LoadClassTexts`` step of the config's test pipeline."""
    pipelines = [cfg.get('test_pipeline')
                 ] + [d.get('pipeline') for d in _dataloader_datasets(cfg)]
    for pipeline in pipelines:
        for step in pipeline or []:
            if str(step.get('type', '')).split('.')[-1] == 'LoadClassTexts':
                return dict(step)
    return None


def scored_entries(cfg: Config, classes: Sequence) -> list:
    """The vocabulary entries the model scores for ``classes``.

    With a ``LoadClassTexts`` step in the config's pipelines, the class
    names go through it (name cleaning, templates, synonyms) as they do at
    test time, so that the warm-started classifier is scored against the
    same text embeddings; else the names are taken as they are.

    Args:
        cfg (Config): The language-guided config.
        classes (Sequence): Class names (or synonym lists), stock order.

    Returns:
        list: One vocabulary entry per class.
    """
    step = _load_class_texts_cfg(cfg)
    if step is None:
        return list(classes)
    from mmvlm.datasets.transforms import LoadClassTexts
    step.pop('type')
    step.pop('class_text_path', None)
    step['classes'] = list(classes)
    if step.get('synonym_mode') == 'random':
        step['synonym_mode'] = 'all'
    return list(LoadClassTexts(**step).transform({})['text'])


def _register(cfg: Config) -> str:
    """Import what the config needs; return its default scope."""
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope') or 'mmdet'
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
    else:
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return scope


def load_stock_checkpoint(
        config: Union[str, Config],
        checkpoint: str,
        classes: Optional[VocabularyLike] = None,
        warm_start: bool = True,
        cfg_options: Optional[dict] = None) -> Tuple[nn.Module, Dict]:
    """Build a language-guided model and load a stock checkpoint into it.

    Args:
        config (str | Config): Config of the language-guided model (the
            stock config with the ``LanguageGuided*`` model, neck and head).
        checkpoint (str): The stock checkpoint (path or URL).
        classes (VocabularyLike, optional): The stock model's class names,
            in its class order (a list, a dataset name such as
            ``'CocoDataset'``, ...). None: the checkpoint's
            ``meta.dataset_meta.classes``, else the config's dataset
            classes. They go through the config's ``LoadClassTexts`` as at
            test time (:func:`scored_entries`).
        warm_start (bool): Initialise the contrastive classifiers from the
            stock class layers. Default True.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple[nn.Module, dict]: The model (eval mode) and a report:
        ``neck_keys_mapped`` (stock → new key), ``stock_tensors`` (key →
        how it was used, or why not), ``missing_keys`` (left at their
        initialisation: the text encoder's own layers, and the classifiers
        without warm start), ``unexpected_keys`` and ``classes`` (the
        entries the classifiers were warm started on).
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with DefaultScope.overwrite_default_scope(_register(cfg)):
        return _load_stock_checkpoint(cfg, checkpoint, classes, warm_start)


def _load_stock_checkpoint(cfg: Config, checkpoint: str,
                           classes: Optional[VocabularyLike],
                           warm_start: bool) -> Tuple[nn.Module, Dict]:
    from mmvlm.models.utils import language_guided_head_names
    model_cfg = copy.deepcopy(cfg.model)
    # the stock checkpoint replaces the backbone's pretrained weights (as
    # mmdet's init_detector, nothing is downloaded)
    if (model_cfg.get('backbone') or {}).get('init_cfg') is not None:
        model_cfg.backbone.init_cfg = None
    if model_cfg.get('pretrained') is not None:  # mmseg's spelling
        model_cfg.pretrained = None
    model = MODELS.build(model_cfg)
    model.init_weights()
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    meta = ckpt.get('meta') or {}
    if classes is None:
        classes = (meta.get('dataset_meta') or {}).get('classes') or \
            config_class_names(cfg)
    entries = None
    if classes is not None:
        names = list(Vocabulary.parse(classes, warn_duplicates=False).entries)
        entries = scored_entries(cfg, names)
        model.dataset_meta = dict(classes=tuple(names))
    heads = [h for _, h in language_guided_head_names(model)]
    saved = [h.classifier.warm_start for h in heads]
    for head in heads:  # the post-load hook warm starts on these entries
        if not warm_start:
            head.classifier.warm_start = None
        elif entries is not None:
            head.classifier.warm_start = dict(classes=entries)
        elif head.classifier.warm_start is None:
            head.classifier.warm_start = {}
    try:
        result = model.load_state_dict(state, strict=False)
    finally:
        for head, value in zip(heads, saved):
            head.classifier.warm_start = value
    neck = getattr(model, 'neck', None)
    report = dict(neck_keys_mapped=list(getattr(neck, 'stock_keys_mapped',
                                                [])),
                  stock_tensors=dict(model.stock_tensor_usage),
                  missing_keys=list(result.missing_keys),
                  unexpected_keys=list(result.unexpected_keys),
                  classes=entries)
    return model.eval(), report


def stock_to_language_guided(config: Union[str, Config],
                             checkpoint: str,
                             out: str,
                             classes: Optional[VocabularyLike] = None,
                             warm_start: bool = True,
                             cfg_options: Optional[dict] = None) -> Dict:
    """Convert a stock checkpoint into a language-guided one and save it.

    See :func:`load_stock_checkpoint` for the arguments. The saved
    checkpoint has the language-guided key layout (``state_dict``) and
    ``meta.dataset_meta.classes`` / ``meta.stock_checkpoint``.

    Args:
        out (str): Path of the language-guided checkpoint to write.

    Returns:
        dict: The report of :func:`load_stock_checkpoint`.
    """
    model, report = load_stock_checkpoint(config, checkpoint, classes,
                                          warm_start, cfg_options)
    meta = dict(stock_checkpoint=str(checkpoint))
    if getattr(model, 'dataset_meta', None):
        meta['dataset_meta'] = dict(model.dataset_meta)
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta), out)
    return report


def format_report(report: Dict) -> str:
    """A few human-readable lines summarising a conversion report."""
    lines = [
        f'{len(report["neck_keys_mapped"])} stock neck keys mapped into '
        'LLMPrefixNeck (neck.* -> neck.neck.*)'
    ]
    for key, how in report['stock_tensors'].items():
        lines.append(f'{key}: {how}')
    if report['classes'] is not None:
        lines.append(f'classes: {report["classes"]}')
    lines.append(f'left at initialisation ({len(report["missing_keys"])}): '
                 f'{report["missing_keys"]}')
    lines.append(f'unexpected stock keys ({len(report["unexpected_keys"])})'
                 f': {report["unexpected_keys"]}')
    return '\n'.join(lines)
