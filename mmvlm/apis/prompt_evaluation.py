"""Per-prompt evaluation API: which words does a trained language-guided
model understand? ``evaluate_prompts`` runs the config's test dataloader
with exactly the given prompts and scores each one with the config's stock
metric on the dataset class it is mapped to."""
import copy
from typing import List, Optional, Union

from mmengine.config import Config
from torch import nn

from ..evaluation.prompt_evaluation import evaluate_prompts_on_loader
from ..evaluation.prompt_mapping import (PromptsLike,
                                         parse_prompts_for_classes)


def _load(model: Union[nn.Module, str, Config], checkpoint: Optional[str],
          device: str, cfg_options: Optional[dict]) -> nn.Module:
    if isinstance(model, nn.Module):
        if checkpoint is not None:
            raise ValueError('Give a checkpoint with a config, not with a '
                             'built model.')
        if getattr(model, 'cfg', None) is None:
            raise ValueError(
                'The model has no .cfg (its test dataloader and evaluator):'
                ' build it with init_language_guided_detector / '
                'init_language_guided_segmentor, or pass the config path.')
        return model
    from .model_loading import init_language_guided_model
    cfg = Config.fromfile(model) if isinstance(model, str) else model
    codebase = cfg.get('default_scope', None) or 'mmdet'
    return init_language_guided_model(
        cfg, codebase, checkpoint, device, cfg_options,
        meta_from_config=codebase == 'mmseg')


def evaluate_prompts(model: Union[nn.Module, str, Config],
                     prompts: PromptsLike,
                     checkpoint: Optional[str] = None,
                     mode: str = 'together',
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None,
                     max_images: Optional[int] = None,
                     score_thr: Optional[float] = None) -> List[dict]:
    """Evaluate a language-guided model prompt by prompt.

    Example::

        rows = evaluate_prompts('lg-atss_trees.py',
                                'tree. tree crown=tree. car=tree',
                                checkpoint='iter_300.pth')
        # [{'prompt': 'tree', 'class': 'tree', 'AP50': 61.2, ...}, ...]

    Args:
        model (nn.Module | str | Config): A model built by
            ``init_language_guided_detector`` / ``_segmentor`` (its ``cfg``
            is used), or a config file / object.
        prompts (str | Sequence | dict): Prompts and the dataset class each
            should find: ``'a. b=c'`` (full stops between pieces; a piece
            without ``=`` must be a class name), a list of pieces or
            ``(prompt, class)`` pairs, or a ``{prompt: class}`` dict.
        checkpoint (str, optional): Checkpoint, with a config.
        mode (str): ``'together'`` (one vocabulary of all prompts),
            ``'each'`` (every prompt alone) or ``'replace'`` (every prompt
            in place of its class's name among the dataset's classes).
        device (str): Device to run on.
        cfg_options (dict, optional): Overrides merged into the config
            (for a built model: into a copy of ``model.cfg``, so only the
            test dataloader and evaluator keys matter, e.g. another split or
            label maps).
        max_images (int, optional): Evaluate the first images only.
        score_thr (float, optional): Detection: score each prompt on its
            boxes scoring at least this only, i.e. at an operating point
            (AP alone ranks boxes and ignores how high they score). None:
            what the model's ``test_cfg.score_thr`` kept.

    Returns:
        list[dict]: One row per prompt: ``prompt``, ``class``, ``mode``,
        ``vocabulary``, and ``AP`` / ``AP50`` / ``AP75`` (detection) or
        ``IoU`` / ``Dice`` (segmentation) of the class in percent,
        ``predicted`` (boxes / pixels labelled with the prompt) and, for
        detection, ``top_score`` (the prompt's best box score per image,
        averaged).

    Raises:
        ValueError: A prompt names no class of the dataset, or a bad mode.
        TypeError: A closed-set (stock) or baked model.
        RuntimeError: The model did not score exactly the prompts asked.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    built = isinstance(model, nn.Module)
    model = _load(model, checkpoint, device, cfg_options)
    cfg = model.cfg
    if built and cfg_options:
        cfg = copy.deepcopy(cfg)
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', None) or 'mmdet'
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg['num_workers'] = 0
    loader_cfg['persistent_workers'] = False
    loader_cfg.pop('prefetch_factor', None)
    if max_images is not None:
        loader_cfg['dataset']['indices'] = int(max_images)
    with DefaultScope.overwrite_default_scope(scope):
        dataloader = Runner.build_dataloader(loader_cfg)
        meta = dataloader.dataset.metainfo
        rows = parse_prompts_for_classes(prompts, list(meta['classes']))
        return evaluate_prompts_on_loader(model, dataloader,
                                          cfg.test_evaluator, meta, rows,
                                          mode, score_thr=score_thr)
