"""FGSM / PGD (mmvlm.engine.adversarial_attack) and the adversarial
training / test hooks on a tiny language-guided segmentor (BatchNorm)."""
import types

import pytest
import torch

pytest.importorskip('mmseg')

from mmengine.logging import MMLogger  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.engine import (AdversarialTestHook,  # noqa: E402
                          AdversarialTrainingHook, perturb)
from mmvlm.engine.hooks.adversarial_training_hook import \
    total_loss  # noqa: E402
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

DEFAULT_SCOPE = 'mmseg'
IMG = 64
MEAN, STD = [120., 110., 100.], [60., 50., 40.]


def tiny_segmentor():
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='LanguageGuidedEncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=MEAN,
                               std=STD, size=(IMG, IMG), pad_val=0,
                               seg_pad_val=255),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(0, 1, 2, 3),
                      norm_cfg=dict(type='BN'), style='pytorch'),
        neck=dict(type='LLMPrefixNeck',
                  neck=dict(type='FPN', in_channels=[8, 16, 32, 64],
                            out_channels=16, num_outs=4),
                  text_encoder=tiny_text_encoder_cfg('bert', embed_dims=16)),
        decode_head=dict(type='LanguageGuidedFPNHead',
                         in_channels=[16] * 4, in_index=[0, 1, 2, 3],
                         feature_strides=[4, 8, 16, 32], channels=16,
                         num_classes=3, embed_dims=16, dropout_ratio=0.0,
                         norm_cfg=None, align_corners=False),
        test_cfg=dict(mode='whole')))


def batch(num=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(num):
        label = torch.zeros(1, IMG, IMG, dtype=torch.long)
        label[:, 4:20, 6:24] = 1
        label[:, 40:, :20] = 2
        sample = SegDataSample(metainfo=dict(
            img_shape=(IMG, IMG), ori_shape=(IMG, IMG), pad_shape=(IMG, IMG),
            text=('background', 'tumour', 'vessel'), custom_entities=True))
        sample.gt_sem_seg = PixelData(data=label)
        inputs.append((label[0] * 70 + torch.randint(0, 40, (IMG, IMG),
                                                     generator=gen))
                      .clamp(0, 255).to(torch.uint8).expand(3, -1, -1))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def fake_runner(model):
    return types.SimpleNamespace(model=model,
                                 logger=MMLogger.get_current_instance())


def test_fgsm_and_pgd_respect_epsilon_pixel_range_and_padding():
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    pixels = torch.tensor([0., 128., 255.]).view(1, 3, 1, 1).expand(
        2, 3, 4, 4).clone()
    inputs = (pixels - mean) / std
    weight = torch.randn(1, 3, 4, 4, generator=torch.Generator()
                         .manual_seed(0))
    mask = torch.ones(2, 1, 4, 4)
    mask[:, :, 3:] = 0  # padding row

    def loss_fn(x):
        return (x * weight).sum()

    fgsm = perturb(loss_fn, inputs, mean, std, epsilon=8, steps=1,
                   step_size=8, mask=mask)
    moved = fgsm * std + mean - pixels  # pixel units
    assert moved[:, :, 3:].abs().max() == 0  # padding untouched
    inner = moved[:, :, :3]
    expected = (weight.sign() * 8).expand_as(moved)[:, :, :3]
    # clipped at 0 (channel 0 going down) and 255 (channel 2 going up)
    clipped = ((pixels[:, :, :3] + expected).clamp(0, 255)
               - pixels[:, :, :3])
    torch.testing.assert_close(inner, clipped, atol=1e-3, rtol=0)
    pgd = perturb(loss_fn, inputs, mean, std, epsilon=4, steps=5,
                  random_start=True, mask=mask,
                  generator=torch.Generator().manual_seed(0))
    moved = pgd * std + mean - pixels
    assert moved.abs().max() <= 4 + 1e-3
    assert (pgd * std + mean).min() >= -1e-3
    assert (pgd * std + mean).max() <= 255 + 1e-3
    assert loss_fn(pgd) > loss_fn(inputs)


def test_training_hook_adds_the_perturbed_loss_and_changes_gradients():
    model = tiny_segmentor()
    model.train()
    data = model.data_preprocessor(batch(), True)
    inputs, samples = data['inputs'], data['data_samples']
    clean = model.loss(inputs, samples)
    total_loss(clean).backward()
    clean_grads = [p.grad.clone() for p in model.parameters()
                   if p.grad is not None]
    model.zero_grad()

    hook = AdversarialTrainingHook(attack='pgd', epsilon=8, steps=3,
                                   ratio=0.5)
    hook.before_train(fake_runner(model))
    assert 'loss' in model.__dict__
    running_mean = model.backbone.stem[1].running_mean.clone()
    losses = model.loss(inputs, samples)
    # 2 BN updates: the clean batch and the perturbed half (the attack's
    # own forward passes are undone)
    assert not torch.equal(model.backbone.stem[1].running_mean,
                           running_mean)
    adv_keys = sorted(k for k in losses if k.startswith('adv_'))
    assert 'adv_decode.loss_ce' in adv_keys, adv_keys
    assert all(p.grad is None for p in model.parameters())
    # the perturbed half has a higher loss than the same images clean
    half_clean = type(model).loss(model, inputs[:1],
                                  samples[:1])['decode.loss_ce']
    assert losses['adv_decode.loss_ce'] > half_clean
    total_loss(losses).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(clean_grads)
    assert any(not torch.allclose(g, c) for g, c in zip(grads, clean_grads))
    hook.after_train(fake_runner(model))
    assert 'loss' not in model.__dict__
    assert 'adv_decode.loss_ce' not in model.loss(inputs, samples)


def test_attack_forward_passes_leave_batchnorm_statistics_alone():
    model = tiny_segmentor()
    model.train()
    data = model.data_preprocessor(batch(), True)
    hook = AdversarialTrainingHook(epsilon=4, steps=2, ratio=1.0)
    before = {n: b.clone() for n, b in model.named_buffers()}
    hook.attack(model, model.loss, data['inputs'], data['data_samples'])
    for name, buf in model.named_buffers():
        assert torch.equal(buf, before[name]), name


def test_test_hook_attacks_predictions_and_unwraps():
    model = tiny_segmentor()
    model.eval()
    data = batch(num=1)
    with torch.no_grad():
        clean = model.test_step(data)[0].seg_logits.data
    hook = AdversarialTestHook(epsilon=16, steps=3)
    runner = fake_runner(model)
    hook.before_test(runner)
    with torch.no_grad():  # as mmengine's TestLoop
        attacked = model.test_step(data)[0].seg_logits.data
    hook.after_test(runner)
    assert not torch.allclose(attacked, clean)
    with torch.no_grad():
        again = model.test_step(data)[0].seg_logits.data
    torch.testing.assert_close(again, clean)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="attack='cw'"):
        AdversarialTrainingHook(attack='cw')
    with pytest.raises(ValueError, match='epsilon=0 must be > 0'):
        AdversarialTrainingHook(epsilon=0)
    with pytest.raises(ValueError, match='ratio=0 must be in'):
        AdversarialTrainingHook(ratio=0)
    with pytest.raises(ValueError, match='steps=0'):
        AdversarialTestHook(steps=0)
    fgsm = AdversarialTrainingHook(attack='fgsm', epsilon=2, steps=7)
    assert (fgsm.attack.steps, fgsm.attack.step_size,
            fgsm.attack.random_start) == (1, 2.0, False)
