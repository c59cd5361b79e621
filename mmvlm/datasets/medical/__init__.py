"""Medical segmentation sets with per-class text prompts in the metainfo."""
from .isic2018_task1_dataset import ISIC2018Task1Dataset
from .kvasir_seg_dataset import KvasirSEGDataset
from .prepare_medical_dataset import (prepare_isic2018_task1,
                                      prepare_kvasir_seg)
from .synapse_prompt_dataset import SynapsePromptDataset

__all__ = [
    'ISIC2018Task1Dataset', 'KvasirSEGDataset', 'SynapsePromptDataset',
    'prepare_isic2018_task1', 'prepare_kvasir_seg'
]
