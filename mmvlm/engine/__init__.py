"""Training-loop components of mmvlm (mmengine hooks)."""
from .hooks import FiniteCheckHook, NonFiniteTrainingError

__all__ = ['FiniteCheckHook', 'NonFiniteTrainingError']
