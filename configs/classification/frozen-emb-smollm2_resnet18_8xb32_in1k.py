# "Frozen" visual prefix on ImageNet, embedding mode: the visual tokens run
# through the frozen SmolLM2-135M, its pooled output is matched against
# the class-name embeddings of the same LM (softmax over the vocabulary).
_base_ = ['./frozen-smollm2_resnet18_8xb32_in1k.py']

model = dict(mode='embedding', text_encoder=dict(embed_dims=256))
