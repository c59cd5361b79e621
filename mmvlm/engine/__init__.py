"""Training-loop components of mmvlm (mmengine hooks)."""
from .hooks import (FiniteCheckHook, NonFiniteTrainingError,
                    TrainingDataReportHook)

__all__ = ['FiniteCheckHook', 'NonFiniteTrainingError',
           'TrainingDataReportHook']
