# Language-guided classifier on the single-concept crops: the stock model
# of ./stock_efficientnet-lite0_concepts-image.py whose linear head scores
# the pooled feature against frozen MiniLM embeddings of the names
# (LLMPrefixNeck + LanguageGuidedClsHead). Trained on the 574 seen names;
# any name can be scored at test time (set_vocabulary).
_base_ = [
    './_base_/concept_crops.py', './_base_/schedule_cpu.py',
    './_base_/efficientnet-lite0_frozen.py'
]

model = dict(
    type='LanguageGuidedImageClassifier',
    backbone={{_base_.backbone}},
    neck=dict(
        type='LLMPrefixNeck',
        neck=dict(type='GlobalAveragePooling'),
        text_encoder=dict(
            type='HFTextEncoder',
            name_or_path='minilm',
            embed_dims=256,
            prefix_length=0)),
    head=dict(
        type='LanguageGuidedClsHead',
        num_classes=574,
        in_channels=320,
        embed_dims=256,
        topk=(1, 5)),
    vocabulary={{_base_.classes}},
    train_vocabulary={{_base_.classes}},
    data_preprocessor={{_base_.data_preprocessor}})
