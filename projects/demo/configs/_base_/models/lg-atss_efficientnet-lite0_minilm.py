# Language-guided ATSS: the stock model of ./atss_efficientnet-lite0.py with
# text-defined classes. Only three keys change:
# - type: LanguageGuidedDetector (runs the text side, maps labels back);
# - the neck wraps the stock FPN in LLMPrefixNeck, whose text side is the
#   offline MiniLM (all-MiniLM-L6-v2, frozen) with a learnable 4-token
#   prefix and a projection to the head's 64 channels;
# - the head is ATSS with its class conv replaced by a contrastive
#   classifier scoring anchors against the prompts' embeddings.
_base_ = './atss_efficientnet-lite0.py'

embed_dims = 64
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
