"""Bad or extreme prompts: vocabularies of 1 and 2,000 classes,
a 500-word prompt, a class-text file that does not match the data set.

A wrong model path and a model folder without tokenizer files are in
``test_offline.py``; non-Latin prompts in
``tests/models/text_encoders/test_prompt_tokenizer_unrepresentable.py``;
CUDA on a CPU-only machine in ``tests/utils/test_launch_device.py``.
"""
import json
import warnings

import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.testing import (TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg,  # noqa
                           tiny_text_encoder_cfg)

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'
IMG, D = 64, 16


def tiny_detector(num_classes: int):
    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(
        type='LanguageGuidedDetector',
        data_preprocessor=dict(type='DetDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375],
                               bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(1, 2, 3)),
        neck=dict(type='LLMPrefixNeck',
                  neck=dict(type='FPN', in_channels=[16, 32, 64],
                            out_channels=16, add_extra_convs='on_output',
                            num_outs=3),
                  text_encoder=tiny_text_encoder_cfg('bert',
                                                     embed_dims=D)),
        bbox_head=tiny_atss_head_cfg(num_classes=num_classes, in_channels=16,
                                     embed_dims=D),
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=dict(nms_pre=100, score_thr=0.0, max_per_img=20,
                      nms=dict(type='nms', iou_threshold=0.6))))
    model.init_weights()
    return model


def batch(vocabulary, labels):
    sample = DetDataSample(metainfo=dict(
        img_path='img.jpg', img_shape=(IMG, IMG), ori_shape=(IMG, IMG),
        scale_factor=(1.0, 1.0), text=tuple(vocabulary),
        custom_entities=True))
    n = len(labels)
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[4., 4., 30., 30.], [20., 10., 60., 50.]][:n]),
        labels=torch.tensor(labels, dtype=torch.long))
    image = torch.randint(0, 255, (3, IMG, IMG), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    return dict(inputs=[image], data_samples=[sample])


@pytest.mark.parametrize('size', [1, 2000])
def test_vocabulary_of_1_and_2000_classes_trains_and_predicts(size):
    """One class (the tree-crown demo) and 2,000 (more than LVIS's 1,203):
    a finite loss whose gradient reaches the classifier, and predictions
    labelled inside the vocabulary. (A head configured for fewer classes
    than the vocabulary is a ValueError naming the entry and the fix.)"""
    vocabulary = ['tree'] if size == 1 else [
        f'object number {i}' for i in range(size)]
    model = tiny_detector(size)
    labels = [0] if size == 1 else [0, size - 1]
    data = model.data_preprocessor(batch(vocabulary, labels), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    head = model.language_guided_heads[0]
    assert head.classifier.embed.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        result = model.test_step(batch(vocabulary, labels))[0]
    labels_out = result.pred_instances.labels
    assert len(labels_out) > 0 and int(labels_out.max()) < size
    embeds = model.neck.text_encoder(vocabulary)
    assert embeds.shape[0] == size and torch.isfinite(embeds).all()


def test_500_word_prompt_is_truncated_with_a_warning_naming_it():
    from mmvlm.models.text_encoders import HFTextEncoder
    cfg = tiny_text_encoder_cfg('bert', embed_dims=8)
    cfg.pop('type')
    encoder = HFTextEncoder(**cfg)
    long_prompt = ' '.join(['tree'] * 500)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        embeds = encoder(['tree', long_prompt])
    messages = [str(r.message) for r in record if 'truncated' in
                str(r.message)]
    assert len(messages) == 1, messages
    assert "Prompt 'tree tree" in messages[0]
    assert 'is 502 tokens long' in messages[0]  # 500 words + CLS + SEP
    assert 'the model takes 64 per sequence' in messages[0]
    assert 'Shorten the prompts' in messages[0]
    assert 'max_length' in messages[0]
    assert embeds.shape == (2, 8) and torch.isfinite(embeds).all()


def test_class_text_file_not_matching_the_dataset(tmp_path):
    """Two synonym lists for three classes: the file, both counts and the
    fix are named when the pipeline is built."""
    from mmvlm.datasets.transforms import LoadClassTexts
    path = tmp_path / 'class_texts.json'
    path.write_text(json.dumps([['cat', 'kitten'], ['dog']]))
    with pytest.raises(ValueError) as err:
        LoadClassTexts(classes=('cat', 'dog', 'zebra'),
                       class_text_path=str(path))
    message = str(err.value)
    assert str(path) in message and 'has 2 entries' in message
    assert '3 classes' in message and 'one synonym list per class' in message
    path.write_text(json.dumps({'cat': 'kitten'}))
    with pytest.raises(ValueError, match='must hold a json list'):
        LoadClassTexts(classes=('cat', ), class_text_path=str(path))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        LoadClassTexts(classes=('cat', ),
                       class_text_path=str(tmp_path / 'missing.json'))
