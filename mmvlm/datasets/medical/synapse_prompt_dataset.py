"""Synapse multi-organ CT with organ-name prompts."""
from mmseg.datasets import SynapseDataset

from mmvlm.registry import SEG_DATASETS


@SEG_DATASETS.register_module()
class SynapsePromptDataset(SynapseDataset):
    """mmseg's :class:`SynapseDataset` plus organ-name prompts.

    Same files and labels as the stock dataset (``img_dir`` / ``ann_dir``
    folders prepared by mmseg's ``tools/dataset_converters/synapse.py``,
    '.jpg' slices and '.png' label maps, 9 classes); the metainfo adds one
    prompt tuple per class, readable for a language model ("left kidney",
    not ``left_kidney``).
    """
    METAINFO = dict(classes=SynapseDataset.METAINFO['classes'],
                    palette=SynapseDataset.METAINFO['palette'],
                    prompts=(('background', ), ('aorta', ), ('gallbladder', ),
                             ('left kidney', ), ('right kidney', ),
                             ('liver', ), ('pancreas', ), ('spleen', ),
                             ('stomach', )))
