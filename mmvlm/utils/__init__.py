from .launch import build_runner, infer_codebase, load_config

__all__ = ['build_runner', 'infer_codebase', 'load_config']
