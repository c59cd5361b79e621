# Prompt-driven binary skin-lesion segmentation on ISIC-2018 task 1: one
# sigmoid mask for the prompt 'skin lesion' (out_channels=1, threshold).
# The Kvasir-SEG recipe with the ISIC data (same as
# ../_base_/datasets/isic2018_task1.py).
_base_ = './lg-unet_kvasir-seg.py'

dataset_type = 'ISIC2018Task1Dataset'
data_root = 'data/isic2018_task1'
model = dict(vocabulary=dataset_type)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
