"""AdversarialTrainingHook / AdversarialTestHook on a tiny language-guided
ATSS detector (the segmentor and the attack itself are tested in
test_adversarial_training_hook.py)."""
import types

import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.engine import (AdversarialTestHook,  # noqa: E402
                          AdversarialTrainingHook)
from mmvlm.testing import (TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg,  # noqa
                           tiny_text_encoder_cfg)

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'
IMG = 64


def tiny_detector():
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
                  text_encoder=tiny_text_encoder_cfg('bert', embed_dims=16)),
        bbox_head=tiny_atss_head_cfg(num_classes=2, in_channels=16,
                                     embed_dims=16),
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=dict(nms_pre=100, score_thr=0.0, max_per_img=20,
                      nms=dict(type='nms', iou_threshold=0.6))))
    model.init_weights()
    return model


def batch(num=2):
    inputs, samples = [], []
    gen = torch.Generator().manual_seed(0)
    for _ in range(num):
        sample = DetDataSample(metainfo=dict(
            img_path='img.jpg', img_shape=(IMG - 8, IMG), ori_shape=(IMG - 8,
                                                                     IMG),
            scale_factor=(1.0, 1.0), text=('tree', 'car'),
            custom_entities=True))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 4., 30., 30.], [30., 20., 60., 50.]]),
            labels=torch.tensor([0, 1]))
        inputs.append(torch.randint(0, 255, (3, IMG - 8, IMG),
                                    dtype=torch.uint8, generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_detector_trains_on_perturbed_images_and_is_attacked_at_test():
    model = tiny_detector()
    runner = types.SimpleNamespace(model=model,
                                   logger=MMLogger.get_current_instance())
    model.train()
    data = model.data_preprocessor(batch(), True)
    inputs, samples = data['inputs'], data['data_samples']
    assert inputs.shape[-2:] == (IMG, IMG)  # padded by 8 rows
    clean = type(model).loss(model, inputs[:1], samples[:1])
    hook = AdversarialTrainingHook(attack='fgsm', epsilon=8, ratio=0.5)
    hook.before_train(runner)
    losses = model.loss(inputs, samples)
    hook.after_train(runner)
    assert {'adv_loss_cls', 'adv_loss_bbox', 'adv_loss_centerness'} <= set(
        losses)

    def total(terms):
        return sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                   for k, v in terms.items() if 'loss' in k)

    adv = total({k[4:]: v for k, v in losses.items()
                 if k.startswith('adv_')})
    assert adv > total(clean)  # FGSM raised the loss of the same image
    total(losses).backward()
    assert model.bbox_head.classifier.embed.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        plain = model.test_step(batch(1))[0].pred_instances.scores
    test_hook = AdversarialTestHook(epsilon=8, steps=2)
    test_hook.before_test(runner)
    with torch.no_grad():
        attacked = model.test_step(batch(1))[0].pred_instances.scores
    test_hook.after_test(runner)
    assert not torch.allclose(plain, attacked)
