# Synapse multi-organ CT: the 8 organs are scored against their names ('left
# kidney', 'liver', ...); the nameless background gets a learned embedding.
_base_ = [
    'mmseg::_base_/models/fcn_unet_s5-d16.py',
    'mmseg::_base_/datasets/synapse.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)
# a non-finite loss or gradient is never applied nor checkpointed
custom_hooks = [dict(type='FiniteCheckHook')]

embed_dims = 256
crop_size = (224, 224)
data_preprocessor = dict(size=crop_size)
model = dict(
    type='LanguageGuidedEncoderDecoder',
    data_preprocessor=data_preprocessor,
    # the class prompts of the dataset metainfo (METAINFO['prompts'])
    vocabulary='SynapsePromptDataset',
    neck=dict(type='LLMPrefixNeck',
              neck=None,
              text_encoder=dict(type='HFTextEncoder',
                                name_or_path='minilm',
                                embed_dims=embed_dims)),
    decode_head=dict(type='LanguageGuidedFCNHead',
                     embed_dims=embed_dims,
                     num_classes=9,
                     learnable_background=True,
                     background_index=0),
    auxiliary_head=dict(type='LanguageGuidedFCNHead',
                        embed_dims=embed_dims,
                        num_classes=9,
                        learnable_background=True,
                        background_index=0),
    test_cfg=dict(mode='whole'))

dataset_type = 'SynapsePromptDataset'
train_dataloader = dict(dataset=dict(type=dataset_type))
val_dataloader = dict(dataset=dict(type=dataset_type))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mDice'])
test_evaluator = val_evaluator
