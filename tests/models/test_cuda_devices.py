"""The text side runs on a CUDA device exactly as on the CPU.

Skipped without a GPU (CI has none); run on a GPU machine with
``pytest tests/models/test_cuda_devices.py -s`` (``-s`` prints timings).
Only torch, transformers and mmengine are needed, no mmcv ops.
"""
import copy
import time

import pytest
import torch

from mmvlm.models.layers import ContrastiveClassifier, TextGatedFusion
from mmvlm.models.necks import LLMPrefixNeck
from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.testing import tiny_text_encoder_cfg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='needs a CUDA device')

VOCAB = ['cat', ('dog', 'puppy'), 'a red car', 'traffic light']


def _encoder(arch: str, **overrides) -> HFTextEncoder:
    cfg = tiny_text_encoder_cfg(arch, **overrides)
    cfg.pop('type')
    torch.manual_seed(0)
    return HFTextEncoder(**cfg)


@pytest.mark.parametrize('arch', ['gpt2', 'llama'])
def test_prefixed_decoder_matches_cpu_and_trains_on_cuda(arch):
    cpu = _encoder(arch, prefix_length=2, deep_prefix_length=2)
    gpu = copy.deepcopy(cpu).cuda()
    with torch.no_grad():
        expected = cpu.encode_vocabulary(VOCAB)
        found = gpu.encode_vocabulary(VOCAB)
    assert found.device.type == 'cuda' and found.shape == (4, 32)
    torch.testing.assert_close(found.cpu(), expected, atol=1e-4, rtol=1e-4)
    gpu.train()
    loss = gpu.encode_vocabulary(VOCAB).pow(2).sum()
    loss.backward()
    for param in (gpu.prefix, gpu.deep_prefix):
        assert param.grad is not None and param.grad.device.type == 'cuda'
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0
    # eval: served from the cache, on the device, without new LM calls
    gpu.eval()
    with torch.no_grad():
        first = gpu.encode_vocabulary(VOCAB)
        calls = gpu.lm_calls
        again = gpu.encode_vocabulary(VOCAB)
    assert gpu.lm_calls == calls and again.device.type == 'cuda'
    torch.testing.assert_close(first, again)


def test_neck_with_visual_prefix_and_per_image_vocabularies():
    encoder = _encoder('llama', prefix_length=2, embed_dims=16)
    neck = LLMPrefixNeck(
        text_encoder=encoder,
        visual_prefix=dict(num_visual_tokens=2, mode='per_image',
                           in_channels=8)).cuda()
    feats = [torch.randn(2, 8, 12, 12, device='cuda', requires_grad=True)]
    texts = [['cat', 'dog', ''], ['a red car', 'cat', 'tree']]
    out, embeds, mask = neck(feats, texts)
    assert embeds.device.type == mask.device.type == 'cuda'
    assert embeds.shape == (2, 3, 16)
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    assert out[0].shape == feats[0].shape and out[0].device.type == 'cuda'
    # text fused into the features (zero-initialised gate: a no-op at first)
    fusion = TextGatedFusion(in_channels=8, embed_dims=16).cuda()
    fused = fusion(out[0], embeds, mask)
    torch.testing.assert_close(fused, out[0])
    (fused.sum() + embeds.sum()).backward()
    assert feats[0].grad is not None
    assert encoder.prefix.grad is not None
    assert neck.visual_gate.grad is not None


def test_contrastive_classifier_scores_and_bakes_on_cuda():
    torch.manual_seed(0)
    classifier = ContrastiveClassifier(in_channels=8, embed_dims=16).cuda()
    text = torch.nn.functional.normalize(torch.randn(5, 16, device='cuda'),
                                         dim=-1)
    x = torch.randn(2, 8, 6, 6, device='cuda')
    classifier.set_text(text)
    live = classifier(x)
    classifier.clear_text()
    classifier.bake(text)
    baked = classifier(x)
    assert live.shape == (2, 5, 6, 6) and baked.device.type == 'cuda'
    torch.testing.assert_close(live, baked)


def test_large_vocabulary_throughput_is_reported():
    """Not a speed assertion (speed goals live in the benchmark tool): the
    time to embed 1,203 prompts once, and from the cache, on this GPU."""
    encoder = _encoder('llama', hf_config=dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        num_key_value_heads=12, intermediate_size=3072)).cuda().eval()
    names = [f'object number {i}' for i in range(1203)]
    with torch.no_grad():
        encoder.encode_vocabulary(names[:8])  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        embeds = encoder.encode_vocabulary(names)
        torch.cuda.synchronize()
        first = time.perf_counter() - start
        start = time.perf_counter()
        encoder.encode_vocabulary(names)
        torch.cuda.synchronize()
        cached = time.perf_counter() - start
    assert embeds.shape == (1203, 32) and torch.isfinite(embeds).all()
    print(f'\n[cuda] {torch.cuda.get_device_name()}: 1203 prompts through a '
          f'12-layer 768-d Llama: {first * 1e3:.1f} ms; cached: '
          f'{cached * 1e3:.1f} ms')
