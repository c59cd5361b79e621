# Control of lg-atss_efficientnet-lite0_minilm_concepts.py: the same model,
# data and schedule with MiniLM's weights replaced by a random
# initialisation of the same architecture (BERT, 6 layers, 384 wide, 12
# heads) and the same tokenizer. What it finds among held-out names comes
# from token overlap and the training, not from what the language model
# knows.
_base_ = './lg-atss_efficientnet-lite0_minilm_concepts.py'

model = dict(
    neck=dict(
        text_encoder=dict(
            name_or_path=None,
            tokenizer='minilm',
            pooling='mean',
            hf_config=dict(
                model_type='bert',
                hidden_size=384,
                num_hidden_layers=6,
                num_attention_heads=12,
                intermediate_size=1536,
                max_position_embeddings=512))))
