# Prompt-driven binary polyp segmentation on Kvasir-SEG: one sigmoid mask for
# the prompt 'polyp' (mmseg binary convention: out_channels=1, threshold).
_base_ = [
    '../_base_/models/lg_fcn_unet_s5-d16_binary.py',
    '../_base_/datasets/kvasir_seg.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]

# the class prompts of the dataset metainfo (METAINFO['prompts'])
model = dict(vocabulary='KvasirSEGDataset')
