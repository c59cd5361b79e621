# Single-concept crops of the many-concept world (64x64 px; built by
# projects/demo/mmvlm_demo/image_level_concept_data.py), as mmpretrain
# CustomDatasets. Labels index seen + validation-held-out + test-held-out
# names in that order, so the 574 seen names are labels 0-573; training
# and validation hold seen names only (held-out names are asked by
# mmvlm_demo.image_level_concepts at test time).
_base_ = ['../../_base_/texts/concepts.py']

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
data_root = 'data/demo/concept_crops/'
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


train_dataset = dict(
    type='CustomDataset',
    data_root=data_root,
    ann_file='train.txt',
    data_prefix='images',
    metainfo=dict(classes={{_base_.classes}}),
    pipeline=pipeline)

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(train_dataset, ann_file='val_seen.txt'))
test_dataloader = dict(
    val_dataloader, dataset=dict(train_dataset, ann_file='test_seen.txt'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
