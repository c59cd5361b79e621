# Language-guided ATSS on the demo tree-crown tiles: the stock twin
# atss_r18-tiny_trees.py with text-defined classes. Only the keys below
# change; data, schedule and seed are inherited, so the two are compared
# with equal iterations.
#
# - the neck wraps the stock FPN in LLMPrefixNeck, whose text side is the
#   offline MiniLM (all-MiniLM-L6-v2, frozen) with a learnable 4-token prefix;
# - the head is ATSS with its class conv replaced by a contrastive
#   classifier scoring boxes against the text embeddings of the prompts;
# - LoadClassTexts puts the class names (the prompts) into every sample;
#   no negative prompts (the EfficientNet demo models add them, see
#   _base_/datasets/trees_language.py).
#
# The class names are the stock twin's `classes` (_base_/texts/trees.py):
# the text the language model reads. For your own data,
# tools/misc/new_project.py writes a config inheriting this one.
_base_ = './atss_r18-tiny_trees.py'

embed_dims = 64
text_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                  'scale_factor', 'flip', 'flip_direction', 'text',
                  'text_mask', 'text_label_ids', 'custom_entities')

model = dict(
    type='LanguageGuidedDetector',
    neck=dict(
        _delete_=True,
        type='LLMPrefixNeck',
        neck={{_base_.model.neck}},
        text_encoder=dict(
            type='HFTextEncoder',
            name_or_path='minilm',
            embed_dims=embed_dims,
            prefix_length=4)),
    bbox_head=dict(type='LanguageGuidedATSSHead', embed_dims=embed_dims))

# The stock twin's pipelines with LoadClassTexts after the loading steps
# (train: image, boxes; test: image) and the text keys packed.
__texts = dict(type='LoadClassTexts', classes=_base_.classes)
__pack = dict(type='PackDetInputs', meta_keys=text_meta_keys)
train_pipeline = (_base_.train_pipeline[:2] + [__texts] +
                  _base_.train_pipeline[2:-1] + [__pack])
test_pipeline = (_base_.test_pipeline[:1] + [__texts] +
                 _base_.test_pipeline[1:-1] + [__pack])
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
