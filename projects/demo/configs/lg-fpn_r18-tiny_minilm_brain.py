# Language-guided semantic FPN on the demo brain slices: the stock twin
# fpn_r18-tiny_brain.py with text-defined classes. Only the keys below
# change; data, schedule and seed are inherited, so the two are compared
# with equal iterations.
#
# - the neck wraps the stock FPN in LLMPrefixNeck, whose text side is the
#   offline MiniLM (all-MiniLM-L6-v2, frozen) with a learnable 4-token prefix;
# - the decode head is FPNHead with `conv_seg` replaced by a pixel-text
#   contrastive classifier; the region names ("left precentral gyrus") are
#   the prompts;
# - LoadClassTexts puts the class names into every sample (mmseg datasets
#   do not, so the names are given here); no negative prompts (the
#   EfficientNet demo models add them, see _base_/datasets/brain_language.py).
_base_ = './fpn_r18-tiny_brain.py'

embed_dims = 64
text_meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'reduce_zero_label', 'text', 'text_mask', 'text_label_ids',
                  'custom_entities')

model = dict(
    type='LanguageGuidedEncoderDecoder',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder=dict(
            type='HFTextEncoder',
            name_or_path='minilm',
            embed_dims=embed_dims,
            prefix_length=4)),
    decode_head=dict(type='LanguageGuidedFPNHead', embed_dims=embed_dims))

# The stock twin's pipelines with LoadClassTexts after the loading steps
# (image, label map) and the text keys packed.
__texts = dict(type='LoadClassTexts', classes=_base_.classes)
__pack = dict(type='PackSegInputs', meta_keys=text_meta_keys)
train_pipeline = (_base_.train_pipeline[:2] + [__texts] +
                  _base_.train_pipeline[2:-1] + [__pack])
test_pipeline = (_base_.test_pipeline[:2] + [__texts] +
                 _base_.test_pipeline[2:-1] + [__pack])
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
