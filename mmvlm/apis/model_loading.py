"""Build a language-guided (or baked) detector / segmentor for inference:
the one loader behind ``init_language_guided_detector`` and
``init_language_guided_segmentor``."""
import copy
import importlib
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config
from torch import nn


def test_dataset_cfg(cfg: Config) -> dict:
    """The test (else val) dataset config, ``{}`` when there is none.

    Args:
        cfg (Config): A model config.

    Returns:
        dict: The dataset config of ``test_dataloader`` (else
        ``val_dataloader``).
    """
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        if dataset:
            return dataset
    return {}


def init_language_guided_model(config: Union[str, Config],
                               codebase: str,
                               checkpoint: Optional[str] = None,
                               device: str = 'cpu',
                               cfg_options: Optional[dict] = None,
                               meta_from_config: bool = False) -> nn.Module:
    """Build a model from a config, load a checkpoint, move it to a device.

    mmvlm is imported first (its components registered, mmengine checkpoint
    contents allow-listed for torch's ``weights_only`` loading), the device
    is checked before anything is built, and the caller's config is never
    changed.

    Args:
        config (str | Config): Config file or object.
        codebase (str): ``'mmdet'`` or ``'mmseg'`` (registry and default
            scope when the config names none).
        checkpoint (str, optional): Checkpoint file; None keeps the
            initialised weights.
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config.
        meta_from_config (bool): Without checkpoint meta, take
            ``dataset_meta['classes']`` from the config's test dataset.

    Returns:
        nn.Module: The model in eval mode, with ``cfg`` and, when known,
        ``dataset_meta``.

    Raises:
        RuntimeError: ``device`` is a CUDA device and CUDA is unavailable.
        FileNotFoundError: The checkpoint does not exist.
    """
    from mmengine.runner import load_checkpoint

    from mmvlm.utils.launch import check_device_available
    check_device_available(device)  # before anything is built
    if isinstance(config, str):
        config = Config.fromfile(config)
    else:
        config = copy.deepcopy(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if codebase == 'mmseg':  # as mmseg.apis.init_model
        config.model.pretrained = None
        config.model.train_cfg = None
    scope = config.get('default_scope', None) or codebase
    importlib.import_module(f'{scope}.utils').register_all_modules(
        init_default_scope=True)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(config.model)
    model.cfg = config
    meta = None
    if checkpoint is None:
        model.init_weights()
    else:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'Checkpoint {checkpoint!r} not found.')
        state = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = state.get('meta', {}).get('dataset_meta')
    if not meta and meta_from_config:
        classes = test_dataset_cfg(config).get('metainfo', {}).get('classes')
        meta = dict(classes=tuple(classes)) if classes else None
    if meta:
        model.dataset_meta = meta
    return model.to(device).eval()
