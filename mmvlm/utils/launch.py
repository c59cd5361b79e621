"""Helpers shared by mmvlm's ``tools/train.py`` and ``tools/test.py``.

Design notes: ``docs/design.md`` (module notes)."""
import datetime
import importlib
import os
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config

from mmvlm.registry import CODEBASES, codebase_available

#: Default process-group timeout (seconds) of distributed runs: how long a
#: collective waits for a rank that stopped before the job fails. Must
#: exceed the longest legitimate wait between collectives: a checkpoint
#: write or the metric computation on rank 0 (COCO val2017 box mAP takes
#: about 1-2 minutes on one CPU core). Configs whose evaluation takes
#: longer (LVIS) set their own ``env_cfg.dist_cfg.timeout``.
DIST_TIMEOUT_S = 300


def use_atomic_checkpoints(cfg: Config) -> bool:
    """Make mmengine's ``CheckpointHook`` of a config mmvlm's
    ``AtomicCheckpointHook`` (same arguments).

    Args:
        cfg (Config): A loaded config.

    Returns:
        bool: Whether the config was changed.
    """
    hook = (cfg.get('default_hooks', None) or {}).get('checkpoint', None)
    if isinstance(hook, dict) and hook.get('type') in (
            'CheckpointHook', 'mmengine.CheckpointHook'):
        hook['type'] = 'AtomicCheckpointHook'
        return True
    return False


def default_dist_timeout(cfg: Config) -> None:
    """Give a distributed run :data:`DIST_TIMEOUT_S` as
    ``env_cfg.dist_cfg.timeout`` unless the config sets one.

    Args:
        cfg (Config): A loaded config with ``launcher`` set.

    Raises:
        ValueError: The configured timeout is not a positive number of
            seconds.
    """
    # (Config copies assigned dicts: read them back after assigning)
    if cfg.get('env_cfg', None) is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg', None) is None:
        cfg.env_cfg.dist_cfg = dict()
    dist_cfg = cfg.env_cfg.dist_cfg
    timeout = dist_cfg.get('timeout', None)
    if timeout is None:
        if cfg.get('launcher', 'none') != 'none':
            dist_cfg.timeout = DIST_TIMEOUT_S
        return
    seconds = timeout.total_seconds() if isinstance(
        timeout, datetime.timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(
            seconds, (int, float)) or not seconds > 0:
        raise ValueError(
            f'env_cfg.dist_cfg.timeout={timeout!r} must be a positive number '
            f'of seconds (default {DIST_TIMEOUT_S}), e.g. --cfg-options '
            f'env_cfg.dist_cfg.timeout={DIST_TIMEOUT_S}.')


def infer_codebase(cfg: Config) -> str:
    """Decide whether a config is an mmdet or an mmseg config.

    Args:
        cfg (Config): A loaded config.

    Returns:
        str: ``'mmdet'`` or ``'mmseg'``.

    Raises:
        ValueError: When the scope is neither, or the model type is unknown.
    """
    scope = cfg.get('default_scope', None)
    if scope is not None:
        if scope not in CODEBASES:
            raise ValueError(
                f"default_scope='{scope}' is not served by mmvlm's launchers; "
                f'use one of {CODEBASES} (or the launcher of {scope}).')
        if not codebase_available(scope):
            raise ImportError(
                f"The config uses default_scope='{scope}' but {scope} is not "
                'installed in this environment; run '
                '`bash tools/setup_env.sh`.')
        return scope
    model_type = cfg.get('model', {}).get('type', None)
    found = []
    for codebase in CODEBASES:
        if not codebase_available(codebase):
            continue
        registry = importlib.import_module(f'{codebase}.registry').MODELS
        importlib.import_module(f'{codebase}.models')
        if isinstance(model_type,
                      str) and registry.get(model_type) is not None:
            found.append(codebase)
    if len(found) == 1:
        return found[0]
    raise ValueError(
        f"Cannot tell whether the config is for mmdet or mmseg (model.type="
        f"'{model_type}', found in: {found or 'none'}). Add "
        "default_scope='mmdet' or default_scope='mmseg' to the config.")


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config as the stock launchers do (mmvlm is registered: any
    import of this module ran ``mmvlm/__init__.py``).

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``; else the config's, else
            ``./work_dirs/<config name>``.
        launcher (str): Job launcher.

    Returns:
        Config: The config with ``default_scope`` set to the inferred
        codebase, ``AtomicCheckpointHook`` for ``CheckpointHook`` and the
        default distributed timeout (:func:`use_atomic_checkpoints`,
        :func:`default_dist_timeout`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.default_scope = infer_codebase(cfg)
    check_device_available(cfg.get('device', None), 'the config key device')
    use_atomic_checkpoints(cfg)
    default_dist_timeout(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def build_runner(cfg: Config):
    """Build the runner named by ``runner_type`` or mmengine's default one.

    Args:
        cfg (Config): A loaded config.

    Returns:
        mmengine.runner.Runner: The runner.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    resume_stock_as_load_from(cfg)
    init_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    hooks = [h.get('type') for h in cfg.get('custom_hooks', None) or []
             if isinstance(h, dict)]
    if cfg.get('train_dataloader') and 'TrainingDataReportHook' not in hooks:
        # registered by mmvlm.engine into the codebase's HOOKS
        registry = importlib.import_module(
            f'{infer_codebase(cfg)}.registry').HOOKS
        runner.register_hook(registry.build(
            dict(type='TrainingDataReportHook')), priority='VERY_LOW')
    return runner


#: Key fragments only a language-guided model's state dict has (the text
#: encoder's learned parts, the contrastive classifier's scale).
LANGUAGE_GUIDED_KEYS = ('text_encoder.', 'logit_scale')


def resume_stock_as_load_from(cfg: Config) -> bool:
    """Turn ``--resume STOCK.pth`` of a language-guided config into
    ``load_from``.

    A stock mmdet / mmseg checkpoint loads into its language-guided twin
    (the models map its keys), but its optimizer state belongs to the stock
    model's parameters, and torch refuses it ("loaded state dict contains a
    parameter group that doesn't match"). The weights are what a user
    resuming from a stock run wants: they are loaded as ``load_from`` and a
    new schedule starts, with a warning saying so.

    Args:
        cfg (Config): A loaded config (``resume`` and ``load_from`` set as
            the launchers set them).

    Returns:
        bool: Whether the config was changed.
    """
    path = cfg.get('load_from', None)
    model_type = str(cfg.get('model', {}).get('type', ''))
    if not cfg.get('resume', False) or not path or \
            'LanguageGuided' not in model_type or not osp.isfile(path):
        return False
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    if any(frag in key for key in state for frag in LANGUAGE_GUIDED_KEYS):
        return False  # a language-guided checkpoint: resume as usual
    cfg.resume = False
    print_log(
        f'--resume {path}: a stock (closed-set) checkpoint for the '
        f'language-guided {model_type}. Its weights are loaded as load_from '
        '(backbone, neck and shared head weights mapped, see '
        'docs/stock_checkpoints.md); its optimizer state and iteration '
        'belong to the stock model and are not used: a new schedule starts.',
        logger='current',
        level=30)
    return True


def check_device_available(device: Union[str, torch.device, None],
                           what: str = 'device') -> None:
    """Fail at once when a CUDA device is requested and CUDA is unavailable.

    Args:
        device (str | torch.device | None): The requested device, e.g.
            ``'cuda'``, ``'cuda:1'``, ``'cpu'``; None means "choose".
        what (str): Where the request came from, for the message.

    Raises:
        RuntimeError: ``device`` is a CUDA device and torch sees no CUDA
            device (or fewer than its index needs).
    """
    if device is None:
        return
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f'{what}={device!r} is not a torch device: '
                         f"use 'cpu', 'cuda' or 'cuda:N'.") from error
    if device.type != 'cuda':
        return
    if not torch.cuda.is_available():
        build = ('torch was built without CUDA'
                 if torch.version.cuda is None else
                 'torch sees no CUDA device (no GPU, no driver, or '
                 'CUDA_VISIBLE_DEVICES hides them)')
        raise RuntimeError(
            f"{what}='{device}' requests CUDA, but {build}. Use "
            "device='cpu' (or leave the device unset), or run on a machine "
            'with a GPU and a CUDA build of torch.')
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{what}='{device}' asks for GPU {device.index}, but only "
            f'{torch.cuda.device_count()} CUDA device(s) are visible; use '
            f'cuda:0 .. cuda:{torch.cuda.device_count() - 1}.')


def init_distributed(cfg: Config) -> bool:
    """Start a CPU-only distributed run before the Runner is built.

    With CUDA available (or ``launcher='none'``, or a process group already
    started) nothing is done: mmengine's ``init_dist`` runs as usual. On a
    machine without CUDA:

    - the ``nccl`` backend (mmdet's and mmseg's default ``dist_cfg``) is an
      error naming the fix, ``env_cfg.dist_cfg.backend=gloo``;
    - with ``launcher='pytorch'`` (torchrun, ``tools/dist_train.sh``) the
      process group is created here from torchrun's environment, with the
      config's backend and timeout, and ``model_wrapper_cfg`` gets
      ``device_ids=None`` (DDP of a CPU model takes no device ids) and,
      when it is new, mmengine's defaults (``MMDistributedDataParallel``,
      ``broadcast_buffers=False``, the config's ``find_unused_parameters``).

    Args:
        cfg (Config): A loaded config with ``launcher`` set.

    Returns:
        bool: True when this function created the process group.

    Raises:
        RuntimeError: nccl without CUDA, another launcher than ``pytorch``
            without CUDA, or torchrun's environment variables missing.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    import torch.distributed as dist
    if not dist.is_available():
        raise RuntimeError(f'--launcher {launcher}: this torch build has no '
                           'torch.distributed; use --launcher none.')
    if dist.is_initialized():
        return False
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', None) or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend == 'nccl':
        raise RuntimeError(
            f'--launcher {launcher} with the nccl backend needs CUDA GPUs, '
            'but torch sees none. On CPU use the gloo backend: add '
            '--cfg-options env_cfg.dist_cfg.backend=gloo (e.g. bash '
            'tools/dist_train.sh CONFIG 2 --cfg-options '
            'env_cfg.dist_cfg.backend=gloo).')
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} without CUDA: mmvlm starts CPU '
            'distributed runs with --launcher pytorch only (torchrun, as '
            'tools/dist_train.sh does).')
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch: the environment variables {missing} are '
            'not set; start the run with torchrun or tools/dist_train.sh.')
    dist_cfg.pop('init_backend', None)
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    elif timeout is not None:
        dist_cfg['timeout'] = timeout
    dist.init_process_group(
        backend=backend,
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **dist_cfg)
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper = dict(wrapper)
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(
            wrapper_type, DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    return True


def shutdown_distributed(exit_process: bool = False) -> None:
    """End a distributed run cleanly: barrier, then destroy the group.

    Without it a gloo rank may abort at interpreter exit ("terminate called
    without an active exception") while the group's threads still run,
    and torchrun reports the finished run as failed. The barrier and the
    destroy alone still let that abort happen now and then (seen twice in
    a full CPU test run, never in isolation): objects that hold the group
    (the DDP wrapper inside the runner, kept alive by reference cycles)
    are then destroyed during interpreter teardown. With
    ``exit_process=True`` a distributed process therefore ends right here,
    after everything is written: logs flushed and closed, then
    ``os._exit(0)``, skipping that teardown. Call it only as the very last
    step of a successful run (the launchers do).

    Args:
        exit_process (bool): In a distributed run, end the process with
            status 0 after the shutdown. Default False.
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    if exit_process:
        import logging
        import sys
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
