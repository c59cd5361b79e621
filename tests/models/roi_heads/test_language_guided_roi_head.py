"""LanguageGuidedBBoxHead inside LanguageGuidedStandardRoIHead: softmax with
a background embedding, per-image vocabularies through the RoIs' image
index, zero-gt images."""
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import ConfigDict  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.models.layers import MASKED_LOGIT  # noqa: E402
from mmvlm.testing import tiny_bbox_head_cfg  # noqa: E402

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'  # set around every test by tests/conftest.py
CH, D, IMG = 16, 8, 64



def roi_head_cfg():
    return dict(
        type='LanguageGuidedStandardRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=CH,
            featmap_strides=[8]),
        bbox_head=tiny_bbox_head_cfg(in_channels=CH, embed_dims=D),
        train_cfg=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=32,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            pos_weight=-1,
            debug=False),
        test_cfg=dict(
            score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=50))


def build():
    torch.manual_seed(0)
    head = MODELS.build(ConfigDict(roi_head_cfg()))
    head.init_weights()
    return head


def proposals(num=20, seed=0):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=gen) * IMG / 2
    wh = 8 + torch.rand(num, 2, generator=gen) * IMG / 2
    return InstanceData(
        bboxes=torch.cat([xy, (xy + wh).clamp(max=IMG)], 1),
        scores=torch.rand(num, generator=gen))


def samples(labels_per_image):
    out = []
    for labels in labels_per_image:
        s = DetDataSample(metainfo=dict(
            img_shape=(IMG, IMG), ori_shape=(IMG, IMG),
            scale_factor=(1.0, 1.0), batch_input_shape=(IMG, IMG)))
        n = len(labels)
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 4., 40., 40.]] * n).reshape(n, 4),
            labels=torch.tensor(labels, dtype=torch.long))
        out.append(s)
    return out


def feats():
    return (torch.randn(2, CH, IMG // 8, IMG // 8,
                        generator=torch.Generator().manual_seed(3)), )


def text(*shape):
    return F.normalize(
        torch.randn(*shape, D, generator=torch.Generator().manual_seed(4)),
        dim=-1)


def test_bbox_head_scores_k_plus_background():
    head = build()
    bbox_head = head.bbox_head
    assert bbox_head.classifier.background_embed is not None
    assert bbox_head.classifier.bias.item() == 0
    rois = torch.tensor([[0, 2., 2., 30., 30.], [1, 10., 10., 50., 50.]])
    with bbox_head.vocabulary(text(5)):
        assert bbox_head.num_classes == 5
        cls_score = head._bbox_forward(feats(), rois)['cls_score']
    assert cls_score.shape == (2, 6)
    assert bbox_head.num_classes == 80


def test_loss_with_per_image_vocabularies_and_empty_image():
    head = build()
    mask = torch.tensor([[True, True, True], [True, True, False]])
    with head.bbox_head.vocabulary(text(2, 3), mask):
        losses = head.loss(feats(), [proposals(), proposals(seed=1)],
                           samples([[2], []]))
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    assert torch.isfinite(losses['loss_bbox'])
    (losses['loss_cls'] + losses['loss_bbox']).backward()
    assert head.bbox_head.classifier.background_embed.grad is not None


def test_per_image_vocabulary_follows_roi_image_index():
    head = build().eval()
    embeds = text(2, 3)
    embeds[1, 2] = embeds[0, 0]  # masked in image 1 only
    mask = torch.tensor([[True, True, True], [True, True, False]])
    rois = torch.tensor([[0, 2., 2., 30., 30.], [1, 2., 2., 30., 30.]])
    with torch.no_grad(), head.bbox_head.vocabulary(embeds, mask):
        cls_score = head._bbox_forward(feats(), rois)['cls_score']
        results = head.predict(feats(), [proposals(), proposals(seed=1)],
                               samples([[], []]), rescale=False)
    assert cls_score[1, 2] == MASKED_LOGIT
    assert cls_score[0, 2] != MASKED_LOGIT
    assert len(results[1]) > 0 and results[1].labels.max() <= 1
    assert results[0].labels.max() <= 2
    # Each RoI gets the scores of its own image's vocabulary.
    with torch.no_grad(), head.bbox_head.vocabulary(embeds[1], mask[1]):
        alone = head._bbox_forward(feats(), rois[1:])['cls_score']
    torch.testing.assert_close(cls_score[1:], alone)
