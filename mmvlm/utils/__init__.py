from .checkpoint_loading import allow_mmengine_checkpoints, restricted_getattr
from .launch import build_runner, infer_codebase, load_config

__all__ = [
    'allow_mmengine_checkpoints', 'build_runner', 'infer_codebase',
    'load_config', 'restricted_getattr'
]
