"""mmengine hooks of mmvlm, registered into mmdet's and mmseg's HOOKS."""
from .adversarial_training_hook import (AdversarialTestHook,
                                        AdversarialTrainingHook)
from .atomic_checkpoint_hook import (AtomicCheckpointHook,
                                     CheckpointWriteError, ResumeChoice,
                                     find_resumable_checkpoint)
from .finite_check_hook import FiniteCheckHook, NonFiniteTrainingError
from .training_data_report_hook import TrainingDataReportHook

__all__ = [
    'AdversarialTestHook', 'AdversarialTrainingHook', 'AtomicCheckpointHook',
    'CheckpointWriteError', 'FiniteCheckHook', 'NonFiniteTrainingError',
    'ResumeChoice', 'TrainingDataReportHook', 'find_resumable_checkpoint'
]
