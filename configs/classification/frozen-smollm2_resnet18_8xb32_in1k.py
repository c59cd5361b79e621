# "Frozen" visual prefix on ImageNet, generative mode: ResNet-18 writes 4
# visual tokens for the frozen SmolLM2-135M; each class name is scored by
# the LM's log-likelihood after "[visual tokens] This is a photo of", the
# prefix's key/value cache reused across the 1000 names. Trained with the
# LM's next-token loss on the target name; the LM never trains.
_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']

custom_imports = dict(imports=['mmvlm'], allow_failed_imports=False)

model = dict(_delete_=True,
             type='FrozenPrefixClassifier',
             mode='generative',
             backbone=dict(type='ResNet',
                           depth=18,
                           num_stages=4,
                           out_indices=(3, )),
             text_encoder=dict(type='HFTextEncoder',
                               name_or_path='smollm2-135m',
                               embed_dims=None),
             visual_prefix=dict(in_channels=512,
                                num_visual_tokens=4,
                                num_heads=8),
             prompt='This is a photo of',
             names_per_chunk=128,
             vocabulary='ImageNet')
