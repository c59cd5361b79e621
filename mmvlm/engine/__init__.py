"""Training-loop components of mmvlm (mmengine hooks, adversarial
attacks)."""
from .adversarial_attack import perturb
from .hooks import (AdversarialTestHook, AdversarialTrainingHook,
                    AtomicCheckpointHook, CheckpointWriteError,
                    FiniteCheckHook, NonFiniteTrainingError,
                    TrainingDataReportHook)

__all__ = [
    'AdversarialTestHook', 'AdversarialTrainingHook', 'AtomicCheckpointHook',
    'CheckpointWriteError', 'FiniteCheckHook', 'NonFiniteTrainingError',
    'TrainingDataReportHook', 'perturb'
]
