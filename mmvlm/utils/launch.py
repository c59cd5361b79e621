"""Helpers shared by mmvlm's ``tools/train.py`` and ``tools/test.py``.

The launchers accept the CLI of mmdet's and mmseg's tools and serve both kinds
of config: the codebase is read from the config's ``default_scope`` or, when a
config has none, from the registry that knows its ``model.type``.
"""
import importlib
import os.path as osp
from typing import Optional

from mmengine.config import Config

from mmvlm.registry import CODEBASES, codebase_available


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
                'installed in this environment; run `bash tools/setup_env.sh`.')
        return scope
    model_type = cfg.get('model', {}).get('type', None)
    found = []
    for codebase in CODEBASES:
        if not codebase_available(codebase):
            continue
        registry = importlib.import_module(f'{codebase}.registry').MODELS
        importlib.import_module(f'{codebase}.models')
        if isinstance(model_type, str) and registry.get(model_type) is not None:
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
    """Load a config as the stock launchers do, and import mmvlm.

    Args:
        path (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``; else the config's, else
            ``./work_dirs/<config name>``.
        launcher (str): Job launcher.

    Returns:
        Config: The config with ``default_scope`` set to the inferred codebase.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    import mmvlm  # noqa: F401  registers mmvlm components
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.default_scope = infer_codebase(cfg)
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
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
