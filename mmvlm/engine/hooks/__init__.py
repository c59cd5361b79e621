"""mmengine hooks of mmvlm, registered into mmdet's and mmseg's HOOKS."""
from .adversarial_training_hook import (AdversarialTestHook,
                                        AdversarialTrainingHook)
from .finite_check_hook import FiniteCheckHook, NonFiniteTrainingError
from .training_data_report_hook import TrainingDataReportHook

__all__ = [
    'AdversarialTestHook', 'AdversarialTrainingHook', 'FiniteCheckHook',
    'NonFiniteTrainingError', 'TrainingDataReportHook'
]
