"""The numpy runtime (mmvlm.deployment.runtime) against mmdet / mmcv / torch
on random inputs: priors, box decoding, NMS, resizing, preprocessing."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmvlm.deployment import runtime


def _boxes(num, seed=0, size=200.0):
    rng = np.random.RandomState(seed)
    xy = rng.rand(num, 2).astype(np.float32) * size
    wh = rng.rand(num, 2).astype(np.float32) * size / 4 + 1
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_batched_nms_equals_mmcv():
    from mmcv.ops import batched_nms
    boxes = _boxes(300)
    rng = np.random.RandomState(1)
    scores = rng.rand(300).astype(np.float32)
    labels = rng.randint(0, 3, 300)
    _, want = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                          torch.from_numpy(labels),
                          dict(type='nms', iou_threshold=0.5))
    got = runtime.batched_nms(boxes, scores, labels, 0.5)
    assert np.array_equal(got, want.numpy())
    assert len(runtime.batched_nms(boxes[:0], scores[:0], labels[:0],
                                   0.5)) == 0


@pytest.mark.parametrize('stds', [(0.1, 0.1, 0.2, 0.2), (1., 1., 1., 1.)])
def test_delta2bbox_equals_mmdet(stds):
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
    coder = DeltaXYWHBBoxCoder(target_means=(0., 0., 0., 0.), target_stds=stds)
    rois = _boxes(50)
    deltas = np.random.RandomState(2).randn(50, 4).astype(np.float32) * 3
    want = coder.decode(torch.from_numpy(rois),
                        torch.from_numpy(deltas),
                        max_shape=(120, 150))
    got = runtime.delta2bbox(
        rois, deltas,
        dict(means=[0.] * 4,
             stds=list(stds),
             wh_ratio_clip=16 / 1000,
             clip_border=True), (120, 150))
    # numpy's and torch's exp differ in the last bit
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-4)


def test_distance2bbox_equals_mmdet():
    from mmdet.models.task_modules.coders import DistancePointBBoxCoder
    points = np.random.RandomState(3).rand(40, 2).astype(np.float32) * 90
    dist = np.random.RandomState(4).rand(40, 4).astype(np.float32) * 30
    want = DistancePointBBoxCoder().decode(torch.from_numpy(points),
                                           torch.from_numpy(dist),
                                           max_shape=(80, 100))
    got = runtime.distance2bbox(points, dist, dict(clip_border=True),
                                (80, 100))
    assert np.array_equal(got, want.numpy())


def test_grid_priors_equal_mmdet():
    from mmdet.models.task_modules.prior_generators import (AnchorGenerator,
                                                            MlvlPointGenerator)
    gen = AnchorGenerator(strides=[8, 16],
                          ratios=[0.5, 1.0, 2.0],
                          octave_base_scale=4,
                          scales_per_octave=2)
    meta = dict(type='anchor',
                strides=[list(s) for s in gen.strides],
                base_anchors=[b.tolist() for b in gen.base_anchors])
    for level, size in enumerate([(7, 9), (4, 5)]):
        want = gen.single_level_grid_priors(size, level, device='cpu')
        got = runtime.grid_priors(meta, level, *size)
        assert np.array_equal(got, want.numpy())
    points = MlvlPointGenerator([8], offset=0.5)
    want = points.single_level_grid_priors((5, 6), 0, device='cpu')
    got = runtime.grid_priors(dict(type='point', strides=[[8, 8]], offset=0.5),
                              0, 5, 6)
    assert np.array_equal(got, want.numpy())


@pytest.mark.parametrize('align_corners', [False, True])
def test_resize_bilinear_equals_torch(align_corners):
    logits = np.random.RandomState(5).randn(3, 13, 11).astype(np.float32)
    want = F.interpolate(torch.from_numpy(logits)[None],
                         size=(29, 17),
                         mode='bilinear',
                         align_corners=align_corners)[0]
    got = runtime.resize_bilinear(logits, (29, 17), align_corners)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_preprocess_and_rescale_size_follow_mmcv():
    import mmcv
    assert runtime.rescale_size(300, 200, (400, 400)) == \
        mmcv.rescale_size((300, 200), (400, 400))
    meta = dict(preprocess=dict(mean=[1., 2., 3.],
                                std=[2., 2., 2.],
                                channel_order='bgr',
                                size_divisor=32,
                                resize=dict(scale=[64, 64], keep_ratio=True)))
    image = np.random.RandomState(6).randint(0, 255, (40, 30, 3), np.uint8)
    batch, metas = runtime.preprocess(image, meta)
    assert batch.shape == (1, 3, 64, 64)
    assert metas[0]['img_shape'] == (64, 48)
    assert metas[0]['scale_factor'] == (48 / 30, 64 / 40)
    assert (batch[0, :, :, 48:] == 0).all()
    with pytest.raises(ValueError, match='uint8 RGB'):
        runtime.preprocess(image.astype(np.float32), meta)


def test_runtime_imports_numpy_only():
    """The module is copied into export folders: no torch, no mmvlm."""
    import ast
    with open(runtime.__file__, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    top = {
        alias.name.split('.')[0]
        for node in tree.body if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split('.')[0]
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert top <= {
        'hashlib', 'json', 'math', 'os', 'sys', 'time', 'typing',
        'unicodedata', 'numpy'
    }, top


def test_compare_detections_tolerates_only_near_ties():
    from mmvlm.deployment.parity import compare_detections
    boxes = _boxes(5)
    scores = np.array([.9, .8, .7, .6, .5000001], np.float32)
    want = dict(bboxes=boxes, scores=scores, labels=np.arange(5))
    cfg = dict(score_thr=0.0, max_per_img=5)
    # the last kept box differs (a near-tie at the max_per_img cut)
    got = dict(bboxes=boxes.copy(),
               scores=scores.copy(),
               labels=np.array([0, 1, 2, 3, 7]))
    report = compare_detections(want, got, cfg)
    assert report['ok'] and report['num_compared'] == 4
    # two nearly tied detections in the other order
    order = np.array([0, 2, 1, 3, 4])
    tied = dict(bboxes=boxes,
                scores=np.array([.9, .8, .8, .6, .5], np.float32),
                labels=np.arange(5))
    swapped = {k: v[order] for k, v in tied.items()}
    assert compare_detections(tied, swapped, cfg)['ok']
    # a real difference: a label changes
    got['labels'] = np.array([0, 1, 3, 2, 4])
    assert not compare_detections(want, got, cfg)['ok']
