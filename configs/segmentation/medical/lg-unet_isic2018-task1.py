# Prompt-driven binary skin-lesion segmentation on ISIC-2018 task 1: one
# sigmoid mask for the prompt 'skin lesion' (out_channels=1, threshold).
# The Kvasir-SEG recipe with the ISIC data.
_base_ = [
    '../_base_/models/lg_fcn_unet_s5-d16_binary.py',
    '../_base_/datasets/isic2018_task1.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]

# the class prompts of the dataset metainfo (METAINFO['prompts'])
model = dict(vocabulary='ISIC2018Task1Dataset')
