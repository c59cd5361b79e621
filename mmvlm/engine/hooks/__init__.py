"""mmengine hooks of mmvlm, registered into mmdet's and mmseg's HOOKS."""
from .finite_check_hook import FiniteCheckHook, NonFiniteTrainingError

__all__ = ['FiniteCheckHook', 'NonFiniteTrainingError']
