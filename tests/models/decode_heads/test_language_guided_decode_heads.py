"""Language-guided mmseg decode heads: the mixin on every head."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

pytest.importorskip('mmseg')

from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import mmvlm  # noqa: E402,F401
from mmvlm.models.layers import ContrastiveClassifier  # noqa: E402

EMBED = 16
CHANNELS = (8, 8, 16, 16)
STRIDES = (4, 8, 16, 32)
IMG = 64


def head_cfg(name: str, **extra) -> dict:
    """A tiny config of each language-guided head."""
    base = dict(channels=8,
                num_classes=5,
                embed_dims=EMBED,
                dropout_ratio=0.0,
                norm_cfg=None,
                align_corners=False)
    if name == 'FCN':
        cfg = dict(type='LanguageGuidedFCNHead',
                   in_channels=16,
                   in_index=3,
                   num_convs=1)
    elif name == 'FPN':
        cfg = dict(type='LanguageGuidedFPNHead',
                   in_channels=list(CHANNELS),
                   in_index=[0, 1, 2, 3],
                   feature_strides=list(STRIDES))
    elif name == 'UPer':
        cfg = dict(type='LanguageGuidedUPerHead',
                   in_channels=list(CHANNELS),
                   in_index=[0, 1, 2, 3],
                   pool_scales=(1, 2))
    else:
        cfg = dict(type='LanguageGuidedSegformerHead',
                   in_channels=list(CHANNELS),
                   in_index=[0, 1, 2, 3])
    cfg.update(base)
    cfg.update(extra)
    return cfg


def feats(batch: int = 2):
    torch.manual_seed(0)
    return [
        torch.randn(batch, c, IMG // s, IMG // s)
        for c, s in zip(CHANNELS, STRIDES)
    ]


def texts(k: int, batch: int = None):
    shape = (k, EMBED) if batch is None else (batch, k, EMBED)
    return F.normalize(torch.randn(*shape), dim=-1)


def samples(labels, batch: int = 2):
    out = []
    for i in range(batch):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=labels[i:i + 1].clone())
        s.set_metainfo(dict(img_shape=(IMG, IMG), pad_shape=(IMG, IMG)))
        out.append(s)
    return out


HEADS = ['FCN', 'FPN', 'UPer', 'Segformer']


@pytest.mark.parametrize('name', HEADS)
def test_head_loss_and_predict_any_vocabulary_size(name):
    head = MODELS.build(head_cfg(name))
    assert isinstance(head.conv_seg, ContrastiveClassifier)
    assert head.num_classes == 5
    x = feats()
    for k in (3, 7):  # the head is not tied to its config's num_classes
        labels = torch.randint(0, k, (2, IMG, IMG))
        labels[:, :4] = 255
        with head.vocabulary(texts(k)):
            assert head.num_classes == head.out_channels == k
            losses = head.loss(x, samples(labels), None)
            logits = head.predict(x, [dict(img_shape=(IMG, IMG))] * 2, None)
        assert torch.isfinite(losses['loss_ce'])
        assert losses['loss_ce'].item() > 0
        assert logits.shape == (2, k, IMG, IMG)
    assert head.num_classes == head.out_channels == 5  # restored
    losses['loss_ce'].backward()
    assert head.conv_seg.embed.weight.grad is not None


@pytest.mark.parametrize('name', HEADS)
def test_head_logits_are_scaled_cosine_similarities(name):
    head = MODELS.build(head_cfg(name)).eval()
    x = feats(1)
    text = texts(4)
    captured = {}
    head.conv_seg.register_forward_hook(
        lambda m, inp, out: captured.update(inp=inp[0], out=out))
    with head.vocabulary(text):
        head.forward(x)
    pixel = F.normalize(head.conv_seg.embed(captured['inp']), dim=1)
    expected = torch.einsum('bdhw,kd->bkhw', pixel, text) * head.conv_seg.scale
    torch.testing.assert_close(captured['out'], expected, rtol=1e-5, atol=1e-5)


def test_ignore_index_pixels_do_not_change_the_loss():
    head = MODELS.build(head_cfg('FCN')).eval()
    x = feats()
    labels = torch.randint(0, 3, (2, IMG, IMG))
    labels[:, :8] = 255
    other = labels.clone()
    with head.vocabulary(texts(3)):
        ref = head.loss(x, samples(labels), None)['loss_ce']
        # also with avg_non_ignore off, ignored pixels carry zero loss
        logits = F.interpolate(head.forward(x),
                               size=(IMG, IMG),
                               mode='bilinear')
        manual = F.cross_entropy(
            logits, labels, ignore_index=255,
            reduction='sum') / labels.numel()
        got = head.loss(x, samples(other), None)['loss_ce']
    torch.testing.assert_close(ref, got)
    torch.testing.assert_close(ref, manual, rtol=1e-4, atol=1e-5)


def test_label_beyond_vocabulary_names_the_id():
    head = MODELS.build(head_cfg('FPN'))
    labels = torch.zeros(2, IMG, IMG, dtype=torch.long)
    labels[1, 5, 5] = 9
    with head.vocabulary(texts(3)):
        with pytest.raises(ValueError, match='label id 9'):
            head.loss(feats(), samples(labels), None)


def test_empty_and_one_class_vocabularies_are_explained():
    head = MODELS.build(head_cfg('FPN'))
    with pytest.raises(ValueError, match='empty'):
        with head.vocabulary(torch.zeros(0, EMBED)):
            pass
    with pytest.raises(ValueError, match='out_channels=1'):
        with head.vocabulary(texts(1)):
            pass


def test_per_image_padded_vocabularies():
    head = MODELS.build(head_cfg('Segformer')).eval()
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    labels = torch.stack(
        [torch.randint(0, 4, (IMG, IMG)),
         torch.randint(0, 2, (IMG, IMG))])
    with head.vocabulary(texts(4, batch=2), mask):
        losses = head.loss(feats(), samples(labels), None)
        logits = head.forward(feats())
    assert torch.isfinite(losses['loss_ce'])
    # padded slots can never win the argmax
    assert (logits[1].argmax(0) < 2).all()


@pytest.mark.parametrize('name', HEADS)
def test_binary_prompt_head(name):
    """out_channels=1: one sigmoid mask for one prompt (mmseg binary)."""
    cfg = head_cfg(name,
                   num_classes=2,
                   out_channels=1,
                   threshold=0.5,
                   loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True))
    head = MODELS.build(cfg)
    assert head.binary
    labels = torch.randint(0, 2, (2, IMG, IMG))
    labels[0, :3] = 255
    x = feats()
    prompt = texts(1)
    for vocab in (prompt, torch.cat([texts(1), prompt])):
        with head.vocabulary(vocab):
            assert head.num_classes == 2 and head.out_channels == 1
            losses = head.loss(x, samples(labels), None)
            logits = head.forward(x)
        assert torch.isfinite(losses['loss_ce'])
        assert logits.shape[1] == 1
    # the (background, foreground) pair scores the foreground prompt only
    with head.vocabulary(prompt):
        one = head.eval().forward(x)
    with head.vocabulary(torch.cat([texts(1), prompt])):
        pair = head.forward(x)
    torch.testing.assert_close(one, pair)
    with pytest.raises(ValueError, match='binary'):
        with head.vocabulary(texts(3)):
            pass


def test_learnable_background_replaces_the_background_text():
    head = MODELS.build(head_cfg('FPN', learnable_background=True)).eval()
    x = feats(1)
    vocab = texts(3)
    other = vocab.clone()
    other[0] = texts(1)[0]  # a different 'background' text
    with head.vocabulary(vocab):
        a = head.forward(x)
    with head.vocabulary(other):
        b = head.forward(x)
    # the background text is ignored: its learned embedding is used
    torch.testing.assert_close(a, b)
    labels = torch.randint(0, 3, (1, IMG, IMG))
    head.train()
    with head.vocabulary(vocab):
        loss = head.loss(x, samples(labels, 1), None)['loss_ce']
    loss.backward()
    assert head.background_embed.grad is not None
    assert head.background_embed.grad.abs().sum() > 0
    # one background mechanism: the classifier's, at background_index
    assert 'conv_seg.background_embed' in dict(head.named_parameters())
    assert head.background_embed is head.conv_seg.background_embed
    assert head.conv_seg.background_index == head.background_index == 0


def test_score_maps_are_concatenated_and_supervised():
    cfg = head_cfg('FPN', score_map=dict(level=-1, loss_weight=0.5))
    head = MODELS.build(cfg)
    # the last level gets num_classes extra channels
    assert head.in_channels[-1] == CHANNELS[-1] + 5
    x = feats()
    labels = torch.randint(0, 4, (2, IMG, IMG))
    with head.vocabulary(texts(4)):
        losses = head.loss(x, samples(labels), None)
    assert set(losses) >= {'loss_ce', 'loss_score_map'}
    assert torch.isfinite(losses['loss_score_map'])
    (losses['loss_ce'] + losses['loss_score_map']).backward()
    assert head.score_map_classifier.embed.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='score_map'):
        with head.vocabulary(texts(6)):
            pass


def test_score_map_on_single_level_head():
    head = MODELS.build(head_cfg('FCN', score_map=dict()))
    assert head.in_channels == 16 + 5
    with head.vocabulary(texts(5)):
        out = head.forward(feats())
    assert out.shape == (2, 5, IMG // 32, IMG // 32)


def test_bake_vocabulary_equals_runtime_vocabulary():
    head = MODELS.build(head_cfg('UPer')).eval()
    x = feats(1)
    vocab = texts(4)
    with head.vocabulary(vocab):
        ref = head.forward(x)
    head.bake_vocabulary(vocab)
    assert head.num_classes == 4
    torch.testing.assert_close(head.forward(x), ref)


def test_background_is_configured_on_the_head_only():
    with pytest.raises(TypeError, match='learnable_background'):
        MODELS.build(head_cfg('FPN', classifier=dict(background=True)))
    head = MODELS.build(head_cfg('FPN'))
    assert not head.learnable_background and head.background_embed is None
    with pytest.raises(ValueError, match='softmax'):
        MODELS.build(
            head_cfg('FCN',
                     num_classes=2,
                     out_channels=1,
                     learnable_background=True,
                     loss_decode=dict(type='CrossEntropyLoss',
                                      use_sigmoid=True)))


def test_checkpoint_with_the_background_on_the_head_loads():
    """Checkpoints saved when the head held ``background_embed`` load."""
    head = MODELS.build(head_cfg('FPN', learnable_background=True)).eval()
    state = head.state_dict()
    state['background_embed'] = state.pop('conv_seg.background_embed') + 1
    fresh = MODELS.build(head_cfg('FPN', learnable_background=True)).eval()
    fresh.load_state_dict(state)  # strict: no missing / unexpected key
    torch.testing.assert_close(fresh.background_embed,
                               state['background_embed'])


def test_score_maps_use_the_learned_background():
    cfg = head_cfg('FPN', learnable_background=True, score_map=dict())
    head = MODELS.build(cfg).eval()
    x = feats(1)
    vocab = texts(3)
    other = vocab.clone()
    other[0] = texts(1)[0]  # a different 'background' text
    with head.vocabulary(vocab):
        a = head.forward(x)
        scored, _ = head.score_map_classifier.class_embeddings()
    with head.vocabulary(other):
        b = head.forward(x)
    torch.testing.assert_close(a, b)
    background = F.normalize(head.background_embed, dim=0)
    torch.testing.assert_close(scored[0], background)
    head.bake_vocabulary(vocab)
    torch.testing.assert_close(head.forward(x), a)


def test_score_map_bake_equals_runtime_vocabulary():
    head = MODELS.build(head_cfg('FCN', score_map=dict())).eval()
    x = feats(1)
    vocab = texts(4)
    with head.vocabulary(vocab):
        ref = head.forward(x)
    head.bake_vocabulary(vocab)
    torch.testing.assert_close(head.forward(x), ref)
