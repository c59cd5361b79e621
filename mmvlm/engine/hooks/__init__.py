"""mmengine hooks of mmvlm, registered into mmdet's and mmseg's HOOKS."""
from .finite_check_hook import FiniteCheckHook, NonFiniteTrainingError
from .training_data_report_hook import TrainingDataReportHook

__all__ = ['FiniteCheckHook', 'NonFiniteTrainingError',
           'TrainingDataReportHook']
