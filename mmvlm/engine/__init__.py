"""Training-loop components of mmvlm (mmengine hooks, adversarial
attacks)."""
from .adversarial_attack import perturb
from .hooks import (AdversarialTestHook, AdversarialTrainingHook,
                    AtomicCheckpointHook, CheckpointWriteError,
                    FiniteCheckHook, NonFiniteTrainingError,
                    TrainingDataReportHook)
from .training_data_diagnosis import (TrainingDataError,
                                      train_with_data_diagnosis)

__all__ = [
    'AdversarialTestHook', 'AdversarialTrainingHook', 'AtomicCheckpointHook',
    'CheckpointWriteError', 'FiniteCheckHook', 'NonFiniteTrainingError',
    'TrainingDataError', 'TrainingDataReportHook', 'perturb',
    'train_with_data_diagnosis'
]
