"""Language-guided ATSS / RetinaNet / FCOS heads with random text
embeddings: stock losses and post-processing with a per-batch vocabulary."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmdet')

from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.models.layers import MASKED_LOGIT  # noqa: E402
from mmvlm.testing import TINY_ATSS_TRAIN_CFG, tiny_atss_head_cfg  # noqa: E402

CH, D, IMG = 16, 8, 64

GN = dict(type='GN', num_groups=4, requires_grad=True)
TEST_CFG = dict(
    nms_pre=200,
    min_bbox_size=0,
    score_thr=0.0,
    nms=dict(type='nms', iou_threshold=0.6),
    max_per_img=50)


def atss_cfg():
    return tiny_atss_head_cfg(
        in_channels=CH,
        embed_dims=D,
        train_cfg=TINY_ATSS_TRAIN_CFG,
        test_cfg=TEST_CFG)


def retina_cfg():
    return dict(
        type='LanguageGuidedRetinaHead',
        num_classes=80,
        in_channels=CH,
        feat_channels=CH,
        stacked_convs=1,
        embed_dims=D,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=2,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
        loss_bbox=dict(type='L1Loss'),
        train_cfg=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        test_cfg=TEST_CFG)


def fcos_cfg():
    return dict(
        type='LanguageGuidedFCOSHead',
        num_classes=80,
        in_channels=CH,
        feat_channels=CH,
        stacked_convs=1,
        embed_dims=D,
        norm_cfg=GN,
        strides=[8, 16, 32],
        regress_ranges=((-1, 32), (32, 64), (64, 1e8)),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
        loss_bbox=dict(type='IoULoss'),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True),
        test_cfg=TEST_CFG)


HEADS = {
    'LanguageGuidedATSSHead': (atss_cfg, 'atss_cls'),
    'LanguageGuidedRetinaHead': (retina_cfg, 'retina_cls'),
    'LanguageGuidedFCOSHead': (fcos_cfg, 'conv_cls'),
}


def build(name):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    head = MODELS.build(ConfigDict(HEADS[name][0]()))
    head.init_weights()
    return head


def feats(batch=2):
    torch.manual_seed(1)
    return tuple(
        torch.randn(batch, CH, IMG // s, IMG // s) for s in (8, 16, 32))


def samples(labels_per_image):
    out = []
    for labels in labels_per_image:
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(IMG, IMG),
                ori_shape=(IMG, IMG),
                pad_shape=(IMG, IMG),
                batch_input_shape=(IMG, IMG),
                scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        n = len(labels)
        xy = torch.rand(n, 2) * IMG / 2
        wh = 8 + torch.rand(n, 2) * IMG / 2
        gt.bboxes = torch.cat([xy, (xy + wh).clamp(max=IMG)], 1)
        gt.labels = torch.tensor(labels, dtype=torch.long)
        sample.gt_instances = gt
        out.append(sample)
    return out


def text(k=5, batch=None):
    torch.manual_seed(2)
    shape = (k, D) if batch is None else (batch, k, D)
    return F.normalize(torch.randn(*shape), dim=-1)


@pytest.mark.parametrize('name', list(HEADS))
def test_classifier_replaced_and_num_classes_follow_vocabulary(name):
    head = build(name)
    assert type(getattr(head, HEADS[name][1])).__name__ == \
        'ContrastiveClassifier'
    assert head.num_classes == 80 and head.cls_out_channels == 80
    with head.vocabulary(text(7)):
        assert head.num_classes == 7 and head.cls_out_channels == 7
        cls_scores = head(feats())[0]
        priors = head.num_base_priors
        assert [c.shape[1] for c in cls_scores] == [priors * 7] * 3
    assert head.num_classes == 80 and head.cls_out_channels == 80
    # The prior-probability bias is on the classifier, the projection is
    # unbiased (the stock bias_prob override must not leak into it).
    assert head.classifier.bias.item() == pytest.approx(-4.595, abs=1e-3)
    assert head.classifier.embed.bias.abs().max().item() == 0
    # ... and keeps its default (Kaiming) scale: the stock std=0.01 Normal
    # init would make normalised embeddings turn by large angles per step.
    assert head.classifier.embed.weight.std().item() > 0.02


@pytest.mark.parametrize('name', list(HEADS))
def test_loss_backward_with_padded_slots_and_empty_image(name):
    head = build(name)
    mask = torch.tensor([True, True, True, True, False])
    batch = samples([[0, 3, 1], []])  # second image has no gt
    with head.vocabulary(text(5), mask):
        losses = head.loss(feats(), batch)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for v in losses.values())
    assert torch.isfinite(total)
    assert total.item() > 0
    total.backward()
    assert head.classifier.embed.weight.grad.abs().sum() > 0
    assert head.classifier.logit_scale.grad is not None

    # An all-empty batch still gives a finite loss.
    head.zero_grad()
    with head.vocabulary(text(5), mask):
        losses = head.loss(feats(), samples([[], []]))
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for v in losses.values())
    assert torch.isfinite(total)


@pytest.mark.parametrize('name', list(HEADS))
def test_predict_never_returns_padded_slots(name):
    head = build(name).eval()
    embeds = text(5)
    embeds[4] = embeds[0]  # padded slot would tie with class 0
    mask = torch.tensor([True, True, True, True, False])
    batch = samples([[0], [1]])
    with torch.no_grad(), head.vocabulary(embeds, mask):
        cls_scores = head(feats())[0]
        results = head.predict(feats(), batch, rescale=False)
    k4 = cls_scores[0].view(2, head.num_base_priors, 5, *cls_scores[0].shape[
        -2:])[:, :, 4]
    assert (k4 == MASKED_LOGIT).all()
    for res in results:
        assert len(res) > 0
        assert res.labels.max() < 4
        assert res.bboxes.shape == (len(res), 4)


@pytest.mark.parametrize('name', list(HEADS))
def test_per_image_vocabularies(name):
    """Each image scores against its own vocabulary and padding."""
    head = build(name).eval()
    embeds = text(3, batch=2)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    with torch.no_grad(), head.vocabulary(embeds, mask):
        results = head.predict(feats(), samples([[0], [0]]), rescale=False)
        losses = head.loss(feats(), samples([[2, 1], [0]]))
    assert results[1].labels.unique().tolist() == [0]
    assert results[0].labels.max() <= 2
    assert torch.isfinite(losses['loss_cls'][0] if isinstance(
        losses['loss_cls'], list) else losses['loss_cls'])

    # Per-image scores equal those of each image alone with its vocabulary.
    with torch.no_grad():
        with head.vocabulary(embeds, mask):
            batched = head(feats())[0][0]
        with head.vocabulary(embeds[1], mask[1]):
            alone = head(feats())[0][0]
    torch.testing.assert_close(batched[1], alone[1])


def test_baked_vocabulary_matches_vocabulary_scope():
    head = build('LanguageGuidedATSSHead').eval()
    embeds = text(6)
    with torch.no_grad(), head.vocabulary(embeds):
        expected = head.predict(feats(), samples([[0], [1]]), rescale=False)
    head.bake_vocabulary(embeds)
    assert head.num_classes == 6
    with torch.no_grad():
        baked = head.predict(feats(), samples([[0], [1]]), rescale=False)
    for a, b in zip(expected, baked):
        torch.testing.assert_close(a.bboxes, b.bboxes, atol=1e-5, rtol=0)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-5, rtol=0)
        assert torch.equal(a.labels, b.labels)


def test_another_head_takes_three_lines():
    """A head mmvlm does not ship (GFL) becomes language-guided with the
    mixin and the name of its class layer."""
    from mmdet.models.dense_heads import GFLHead

    from mmvlm.models.utils import LanguageGuidedHeadMixin

    class LanguageGuidedGFLHead(LanguageGuidedHeadMixin, GFLHead):
        classifier_name = 'gfl_cls'

    cfg = atss_cfg()
    for key in ('type', 'loss_centerness', 'bbox_coder'):
        cfg.pop(key)
    cfg.update(
        loss_cls=dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0,
            loss_weight=1.0),
        train_cfg=ConfigDict(cfg['train_cfg']),
        test_cfg=ConfigDict(cfg['test_cfg']))
    torch.manual_seed(0)
    head = LanguageGuidedGFLHead(**cfg)
    head.init_weights()
    mask = torch.tensor([True, True, True, False])
    with head.vocabulary(text(4), mask):
        losses = head.loss(feats(), samples([[0, 2], []]))
        head.eval()
        with torch.no_grad():
            results = head.predict(feats(), samples([[0], [1]]),
                                   rescale=False)
    assert torch.isfinite(sum(sum(v) for v in losses.values()))
    assert all(len(r) > 0 and r.labels.max() < 3 for r in results)


def test_classifier_kernel_from_config():
    from mmdet.registry import MODELS
    cfg = atss_cfg()
    cfg['classifier'] = dict(kernel_size=1)
    head = MODELS.build(ConfigDict(cfg))
    assert head.atss_cls.embed.kernel_size == (1, 1)
    assert build('LanguageGuidedATSSHead').atss_cls.embed.kernel_size == (3,
                                                                          3)
