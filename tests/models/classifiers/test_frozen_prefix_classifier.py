"""FrozenPrefixClassifier: a frozen causal LM reads visual tokens; only the
vision side learns (needs mmpretrain: runs in .venv-mmpretrain)."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmpretrain',
                    reason='mmpretrain is not installed in '
                    'this environment (build .venv-mmpretrain with '
                    'tools/env/setup_mmpretrain_env.sh)')

from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.testing import tiny_text_encoder_cfg  # noqa: E402

DEFAULT_SCOPE = 'mmpretrain'
CLASSES = ['dog', 'cat', 'red car', ('bus', 'large bus')]


def frozen_cfg(mode, arch='gpt2', **kwargs):
    cfg = dict(type='FrozenPrefixClassifier',
               mode=mode,
               backbone=dict(type='ResNet',
                             depth=18,
                             base_channels=8,
                             stem_channels=8,
                             out_indices=(3, )),
               text_encoder=tiny_text_encoder_cfg(
                   arch,
                   embed_dims=16 if mode == 'embedding' else None,
                   hf_config=dict(tie_word_embeddings=True)),
               visual_prefix=dict(in_channels=64, num_visual_tokens=2),
               vocabulary=CLASSES)
    cfg.update(kwargs)
    return cfg


def samples(labels):
    return [DataSample().set_gt_label(i) for i in labels]


@pytest.mark.parametrize('mode', ['generative', 'embedding'])
def test_only_the_vision_side_learns(mode):
    torch.manual_seed(0)
    model = MODELS.build(frozen_cfg(mode))
    images = torch.randn(2, 3, 32, 32)
    loss = model(images, samples([1, 3]), mode='loss')['loss']
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    lm = model.text_encoder.lm
    assert all(not p.requires_grad and p.grad is None for p in lm.parameters())
    assert model.visual_projector.proj.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    # the frozen LM stays out of checkpoints
    assert not any(
        k.startswith('text_encoder.lm.') for k in model.state_dict())


def test_generative_predictions_equal_naive_scores():
    torch.manual_seed(0)
    model = MODELS.build(frozen_cfg('generative', arch='llama')).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        preds = model(images, mode='predict')
        tokens = model.visual_tokens(images)
        names = ['dog', 'cat', 'red car', 'bus', 'large bus']
        naive = model.prefix_lm.score_names_naive(tokens, names)
    # entry 3 has two synonyms: its score is the best of them
    expected = torch.cat([naive[:, :3], naive[:, 3:].amax(1, True)], 1)
    for pred, row in zip(preds, expected.softmax(-1)):
        torch.testing.assert_close(pred.pred_score, row, atol=1e-4, rtol=0)
        assert pred.pred_label.item() == int(row.argmax())


def test_override_held_out_names_and_generate():
    torch.manual_seed(0)
    model = MODELS.build(frozen_cfg('generative')).eval()
    model.dataset_meta = dict(classes=['dog', 'cat', 'red car', 'bus'])
    model.set_vocabulary(['bus', 'puppy'], label_ids=[3, -1])
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        pred = model(images, mode='predict')[0]
    assert pred.pred_score.shape == (4, )
    assert float(pred.pred_score[:3].sum()) == 0.0
    texts = model.generate(images, max_new_tokens=3, num_beams=2)
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_encoder_lm_and_missing_channels_are_refused():
    with pytest.raises(ValueError, match='decoder-only'):
        cfg = frozen_cfg('embedding')
        cfg['text_encoder'] = tiny_text_encoder_cfg('bert', embed_dims=16)
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='in_channels'):
        MODELS.build(frozen_cfg('generative', visual_prefix=dict()))
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(frozen_cfg('captioning'))


def test_logit_scale_is_one_element_and_old_checkpoints_load():
    """FSDP refuses 0-d parameters: ``logit_scale`` is a ``(1, )`` vector;
    a checkpoint that saved it 0-d still loads (strict)."""
    import math
    model = MODELS.build(frozen_cfg('embedding'))
    assert model.logit_scale.shape == (1, )
    assert not [n for n, p in model.named_parameters() if p.dim() == 0]
    old = model.state_dict()
    old['logit_scale'] = torch.tensor(math.log(20.0))  # as written before
    fresh = MODELS.build(frozen_cfg('embedding'))
    fresh.load_state_dict(old)
    assert fresh.logit_scale.shape == (1, )
    torch.testing.assert_close(fresh.logit_scale,
                               torch.tensor([math.log(20.0)]))


def test_centred_embedding_scores_are_cosines_about_the_name_mean():
    torch.manual_seed(0)
    model = MODELS.build(
        frozen_cfg('embedding', center_embeddings=True,
                   vocabulary=['dog', 'cat', 'red car']))
    model.eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(images, mode='tensor')
        tokens = model.visual_tokens(images)
        image = F.normalize(
            model.text_encoder.encode_visual_context(tokens), dim=-1)
        text = model.text_encoder.encode_vocabulary(['dog', 'cat',
                                                     'red car'])
    centre = text.mean(0, keepdim=True)
    expected = model.logit_scale.exp() * F.normalize(
        image - centre, dim=-1) @ F.normalize(text - centre, dim=-1).t()
    torch.testing.assert_close(logits, expected)
    # centred, the names' embeddings sum to zero before renormalising
    torch.testing.assert_close((text - centre).sum(0),
                               torch.zeros(text.shape[1]),
                               atol=1e-5,
                               rtol=0)
