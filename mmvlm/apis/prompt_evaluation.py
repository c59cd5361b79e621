"""Per-prompt evaluation API: which words does a trained language-guided
model understand? ``evaluate_prompts`` runs the config's test dataloader
with exactly the given prompts and scores each one with the config's stock
metric on the dataset class it is mapped to."""
import copy
import warnings
from typing import List, Optional, Sequence, Union

from mmengine.config import Config
from torch import nn

from ..evaluation.prompt_evaluation import (Background, each_mode_background,
                                            evaluate_prompts_on_loader,
                                            scoring_passes)
from ..evaluation.prompt_mapping import (PromptForClass, PromptsLike,
                                         parse_prompts_for_classes)
from ..structures import is_prompts_file


def _check_built(model: nn.Module, checkpoint: Optional[str]) -> None:
    if checkpoint is not None:
        raise ValueError('Give a checkpoint with a config, not with a '
                         'built model.')
    if getattr(model, 'cfg', None) is None:
        raise ValueError(
            'The model has no .cfg (its test dataloader and evaluator):'
            ' build it with init_language_guided_detector / '
            'init_language_guided_segmentor, or pass the config path.')


def _load(cfg: Config, checkpoint: Optional[str], device: str) -> nn.Module:
    from .model_loading import init_language_guided_model
    codebase = cfg.get('default_scope', None) or 'mmdet'
    return init_language_guided_model(
        cfg, codebase, checkpoint, device, None,
        meta_from_config=codebase == 'mmseg')


def _background(model: Union[nn.Module, Config],
                classes: Sequence[str]) -> Optional[Background]:
    """A segmentor's background for mode ``'each'`` (None: a detector),
    read from the built decode head or the config's."""
    if isinstance(model, nn.Module):
        head = getattr(model, 'decode_head', None)
        if head is None:
            return None
        return each_mode_background(
            classes, getattr(head, 'background_index', 0),
            bool(getattr(head, 'learnable_background', False)),
            bool(getattr(head, 'binary', False)))
    head = model.model.get('decode_head')
    if head is None:
        return None
    return each_mode_background(
        classes, head.get('background_index', 0),
        bool(head.get('learnable_background', False)),
        head.get('out_channels') == 1)


def _without_background(rows: List[PromptForClass], prompts: PromptsLike,
                        background: Background) -> List[PromptForClass]:
    """A prompts file in mode ``'each'`` of a segmentor: the background
    class's own entries have nothing to be scored against; they are left
    out with a warning (given as prompts, they are an error)."""
    if not is_prompts_file(prompts):
        return rows
    kept = [r for r in rows if r.class_id != background.class_id]
    dropped = [r.prompt for r in rows if r.class_id == background.class_id]
    if dropped:
        warnings.warn(
            f"mode='each' scores each prompt of a segmentor against the "
            f'background class {background.name!r}: its own prompts '
            f"{dropped} from {prompts!r} are left out (score them with "
            "mode='together').")
    return kept


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
            ``'each'`` (every prompt alone; a segmentor scores each prompt
            against the dataset's background class, binary, and leaves
            out the background's own entries of a prompts file) or
            ``'replace'`` (every prompt in place of its class's name among
            the dataset's classes).
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
        ValueError: A prompt names no class of the dataset, or a bad mode;
            mode ``'each'`` on a segmentor whose dataset has no background
            class, or with a prompt of the background class. These are
            raised before the model is built.
        TypeError: A closed-set (stock) or baked model.
        RuntimeError: The model did not score exactly the prompts asked.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    built = isinstance(model, nn.Module)
    if built:
        _check_built(model, checkpoint)
        cfg = model.cfg
        if cfg_options:
            cfg = copy.deepcopy(cfg)
    else:
        cfg = Config.fromfile(model) if isinstance(model, str) else \
            copy.deepcopy(model)
    if cfg_options:
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
        classes = list(meta['classes'])
        rows = parse_prompts_for_classes(prompts, classes)
        # every check on the prompts before the model is built
        background = None
        if mode == 'each':
            background = _background(model if built else cfg, classes)
        if background is not None:
            rows = _without_background(rows, prompts, background)
            if not rows:
                raise ValueError(
                    f'No prompt left to score: {prompts!r} names only the '
                    f'background class {background.name!r}.')
        scoring_passes(rows, classes, mode, background)
        if not built:
            model = _load(cfg, checkpoint, device)
        return evaluate_prompts_on_loader(model, dataloader,
                                          cfg.test_evaluator, meta, rows,
                                          mode, score_thr=score_thr,
                                          background=background)
