"""Prompts the tokenizer cannot represent are an error naming the fix.

MiniLM's WordPiece vocabulary has no Chinese characters: "细胞" (cell) and
"血液" (blood) both become ``[UNK] [UNK]``, so their embeddings would be
identical (cosine 1.0) and training could not tell them apart.
"""
import pytest
import torch

from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.models.text_encoders.prompt_tokenizer import PromptTokenizer
from mmvlm.testing import tiny_text_encoder_cfg


def build(arch='bert', **kwargs):
    cfg = tiny_text_encoder_cfg(arch, embed_dims=8, **kwargs)
    cfg.pop('type')
    torch.manual_seed(0)
    return HFTextEncoder(**cfg)


@pytest.fixture(scope='module')
def minilm_tokenizer():
    return build('bert').tokenizer


def test_unknown_only_prompts_raise_with_the_fix():
    encoder = build('bert')
    with pytest.raises(ValueError) as info:
        encoder(['细胞', '血液'])
    message = str(info.value)
    assert "'细胞' -> [CLS] [UNK] [UNK] [SEP] (2 unknown of 2" in message
    assert "'细胞' and '血液' have identical token ids" in message
    assert 'multilingual' in message and 'name_or_path' in message


def test_templated_collisions_are_caught(minilm_tokenizer):
    """With a template most tokens are known; the ids still collide."""
    tokenizer = PromptTokenizer(minilm_tokenizer, 64, append_eos=False)
    with pytest.raises(ValueError,
                       match="'a photo of a 细胞.' and 'a photo of a 血液."):
        tokenizer(['a photo of a 细胞.', 'a photo of a 血液.'])


def test_latin_prompts_case_variants_and_padding_pass(minilm_tokenizer):
    tokenizer = PromptTokenizer(minilm_tokenizer, 64, append_eos=False)
    ids = tokenizer(['red blood cell', 'Red  blood cell', 'café', '', ''])
    assert ids[0] == ids[1] and len(ids) == 5
    # one unknown among known words is not "mostly unknown"
    tokenizer(['细 cell nucleus'])


def test_warn_mode_keeps_going(minilm_tokenizer):
    tokenizer = PromptTokenizer(minilm_tokenizer, 64, append_eos=False,
                                on_unrepresentable='warn')
    with pytest.warns(UserWarning, match='cannot represent'):
        ids = tokenizer(['细胞', '血液'])
    assert ids[0] == ids[1]
    with pytest.raises(ValueError, match="on_unrepresentable='ignore'"):
        PromptTokenizer(minilm_tokenizer, 64, append_eos=False,
                        on_unrepresentable='ignore')


def test_encoder_config_chooses_warn():
    encoder = build('bert', on_unrepresentable='warn')
    with pytest.warns(UserWarning, match='cannot represent'):
        embeds = encoder(['细胞', '血液'])
    assert embeds.shape == (2, 8)
    with pytest.raises(ValueError, match="on_unrepresentable='ignore'"):
        build('bert', on_unrepresentable='ignore')


def test_byte_level_tokenizer_represents_any_script():
    encoder = build('gpt2')
    embeds = encoder(['细胞', '血液'])
    assert not torch.allclose(embeds[0], embeds[1])
