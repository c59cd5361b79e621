"""Medical segmentation sets with per-class text prompts in the metainfo."""
from .isic2018_task1_dataset import ISIC2018Task1Dataset
from .kvasir_seg_dataset import KvasirSEGDataset
from .prepare_medical_dataset import (prepare_isic2018_task1,
                                      prepare_kvasir_seg)
from .synapse_prompt_dataset import SynapsePromptDataset
from .volume_slices import (VolumeDataset, VolumeGridError, read_names_table,
                            resample_labels, split_slices, volumes_to_mmseg)

__all__ = [
    'ISIC2018Task1Dataset', 'KvasirSEGDataset', 'SynapsePromptDataset',
    'VolumeDataset', 'VolumeGridError', 'prepare_isic2018_task1',
    'prepare_kvasir_seg', 'read_names_table', 'resample_labels',
    'split_slices', 'volumes_to_mmseg'
]
