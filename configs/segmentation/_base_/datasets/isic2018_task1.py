# ISIC-2018 task 1 skin-lesion segmentation, mmseg projects/medical layout:
# images/{train,val}, masks/{train,val}; masks 0 = background, 1 = lesion.
# Same layout, sizes, pipelines and metrics as Kvasir-SEG; only the dataset
# class and folder differ. Prepare the raw download with
# python tools/dataset_converters/prepare_medical_dataset.py \
#     isic2018_task1 RAW OUT
_base_ = './kvasir_seg.py'

dataset_type = 'ISIC2018Task1Dataset'
data_root = 'data/isic2018_task1'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
