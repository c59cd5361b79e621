"""mmvlm.apis.bake_vocabulary: the baked, LM-free model gives the same
boxes and scores (within 1e-5) as the language-guided model on that
vocabulary."""
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402

import mmvlm  # noqa: F401,E402
from mmvlm.apis import bake_checkpoint, baked_config  # noqa: E402
from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

register_all_modules(init_default_scope=False)
DEFAULT_SCOPE = 'mmdet'  # set around every test by tests/conftest.py


def write_tiny_config(tmp_path: Path, base: str) -> Path:
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16)
    head = ("roi_head=dict(bbox_roi_extractor=dict(out_channels=16), "
            "bbox_head=dict(num_classes=3, embed_dims=16, in_channels=16, "
            "fc_out_channels=32)), rpn_head=dict(in_channels=16, "
            "feat_channels=16),") if 'rcnn' in base else (
                "bbox_head=dict(num_classes=3, embed_dims=16, "
                "in_channels=16, feat_channels=16, stacked_convs=1, "
                "norm_cfg=dict(type='GN', num_groups=4, requires_grad=True)),")
    text = f"""_base_ = {str(ROOT / 'configs' / 'detection' / base)!r}
model = dict(
    backbone=dict(depth=18, base_channels=8, init_cfg=None),
    neck=dict(
        text_encoder=dict(_delete_=True, **{text_encoder!r}),
        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),
    {head}
    test_cfg=dict(score_thr=0.0))
"""
    if 'rcnn' in base:
        text = text.replace('test_cfg=dict(score_thr=0.0)',
                            'test_cfg=dict(rcnn=dict(score_thr=0.0))')
    path = tmp_path / f'tiny_{base}'
    path.write_text(text)
    return path


def predictions(model, seed):
    gen = torch.Generator().manual_seed(seed)
    size = 96
    meta = dict(img_shape=(size, size), ori_shape=(size, size),
                scale_factor=(1.0, 1.0))
    data = dict(
        inputs=[torch.randint(0, 255, (3, size, size), generator=gen,
                              dtype=torch.uint8) for _ in range(2)],
        data_samples=[DetDataSample(metainfo=meta) for _ in range(2)])
    model.eval()
    with torch.no_grad():
        return [s.pred_instances for s in model.test_step(data)]


@pytest.mark.parametrize('base', [
    'lg-atss_r50_fpn_1x_coco.py', 'lg-faster-rcnn_r50_fpn_1x_coco.py'
])
def test_bake_checkpoint_gives_same_boxes_and_scores(tmp_path, base):
    config = write_tiny_config(tmp_path, base)
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    lg_model = MODELS.build(cfg.model)
    lg_model.init_weights()
    checkpoint = tmp_path / 'lg.pth'
    torch.save(dict(state_dict=lg_model.state_dict(),
                    meta=dict(dataset_meta=dict(
                        classes=('cat', 'dog', 'zebra')))), checkpoint)

    out_dir = tmp_path / 'baked'
    # The tiny test LM is random and, being frozen, not in checkpoints:
    # baking must rebuild the very same one, so seed as for lg_model.
    torch.manual_seed(0)
    bake_checkpoint(str(config), str(checkpoint), str(out_dir),
                    'a red car. a person. a dog. a person')

    baked_cfg = Config.fromfile(out_dir / 'baked.py')
    assert baked_cfg.model.neck.type == 'FPN'
    assert baked_cfg.model.vocabulary == ['a red car', 'a person', 'a dog']
    baked = MODELS.build(baked_cfg.model)
    state = torch.load(out_dir / 'baked.pth', map_location='cpu',
                       weights_only=False)
    baked.load_state_dict(state['state_dict'], strict=True)
    assert state['meta']['dataset_meta']['classes'] == ('a red car',
                                                        'a person', 'a dog')
    # No language model left, and the checkpoint is smaller than the LG one
    # (the LG checkpoint keeps the projection, not the frozen LM).
    assert not any('text_encoder' in k for k in state['state_dict'])
    assert not any(isinstance(m, type(lg_model.neck.text_encoder))
                   for m in baked.modules())

    lg_model.set_vocabulary('a red car. a person. a dog')
    for seed in range(2):
        expected = predictions(lg_model, seed)
        got = predictions(baked, seed)
        for a, b in zip(expected, got):
            assert len(a) == len(b) > 0
            assert torch.equal(a.labels, b.labels)
            assert (a.bboxes - b.bboxes).abs().max() <= 1e-5
            assert (a.scores - b.scores).abs().max() <= 1e-5


def test_bake_refuses_text_fusion(tmp_path):
    cfg = Config.fromfile(write_tiny_config(tmp_path,
                                            'lg-atss_r50_fpn_1x_coco.py'))
    cfg.model.neck.fusion = dict(type='TextGatedFusion')
    with pytest.raises(ValueError, match='fusion'):
        baked_config(cfg, ['cat'], [0])


def test_bake_checkpoint_of_a_segmentor_gives_the_same_logits(tmp_path):
    """A language-guided segmentor bakes (it used to fail with "unexpected
    keyword argument 'vocabulary_label_ids'") into mmseg's stock
    EncoderDecoder, whose predictions equal the language-guided model's."""
    pytest.importorskip('mmseg')
    from mmengine.runner import save_checkpoint
    from mmseg.structures import SegDataSample

    from mmvlm.apis import init_language_guided_segmentor
    text = dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64))
    classes = ('background', 'left region', 'right region')
    base = ROOT / 'projects' / 'demo' / 'configs' / \
        'lg-fpn_r18-tiny_minilm_brain.py'
    config = tmp_path / 'tiny_lg_seg.py'
    config.write_text('\n'.join([
        f'_base_ = {str(base)!r}',
        f'model = dict(neck=dict(text_encoder={text!r}),',
        '    decode_head=dict(num_classes=3),',
        '    data_preprocessor=dict(size=(96, 96)))',
        'test_dataloader = dict(dataset=dict(metainfo=dict(',
        f'    classes={classes!r}, palette=[(0, 0, 0)] * 3)))',
    ]) + '\n')
    torch.manual_seed(0)
    lg = init_language_guided_segmentor(str(config))
    ckpt = tmp_path / 'lg.pth'
    # trained without 'right region' (held out): the test split names it,
    # and the baked model is evaluated there
    save_checkpoint(dict(state_dict=lg.state_dict(),
                         meta=dict(dataset_meta=dict(
                             classes=classes[:2]))), str(ckpt))
    # the tiny random LM is frozen, not in checkpoints: seed as for lg
    torch.manual_seed(0)
    cfg_path, ckpt_path = bake_checkpoint(str(config), str(ckpt),
                                          str(tmp_path / 'baked'))
    baked_cfg = Config.fromfile(cfg_path)
    assert baked_cfg.model.type == 'EncoderDecoder'
    assert baked_cfg.model.neck.type == 'FPN'  # no language model left
    baked = init_language_guided_segmentor(cfg_path, ckpt_path)
    assert baked.dataset_meta['classes'] == classes
    gen = torch.Generator().manual_seed(1)
    image = torch.randint(0, 255, (3, 80, 72), generator=gen,
                          dtype=torch.uint8)
    meta = dict(img_shape=(80, 72), ori_shape=(80, 72))

    def predict(model):
        data = dict(inputs=[image], data_samples=[SegDataSample(
            metainfo=meta)])
        with torch.no_grad():
            return model.test_step(data)[0]

    ref, out = predict(lg), predict(baked)
    assert torch.allclose(ref.seg_logits.data, out.seg_logits.data,
                          atol=1e-5)
    assert torch.equal(ref.pred_sem_seg.data, out.pred_sem_seg.data)


def test_default_vocabulary_is_what_the_test_pipeline_prompts():
    """A config reading a prompts file prompts 'genu of corpus callosum'
    for the class 'Genu_of_corpus_callosum': baking the bare names gave
    the atlas segmentor 12.83 test mIoU instead of its 14.59."""
    from mmvlm.apis.bake_vocabulary import dataset_classes, test_prompts
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        metainfo=dict(classes=('background', 'Genu_R', 'Body')),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadClassTexts',
                       classes=('background', ('right genu', 'genu R'),
                                'body'))]))))
    classes = dataset_classes(cfg, dict(dataset_meta=dict(classes=('x', ))))
    assert classes == ['background', 'Genu_R', 'Body']
    assert test_prompts(cfg, len(classes)) == [
        'background', ['right genu', 'genu R'], 'body']
    assert test_prompts(cfg, 2) is None  # not one per class: the names
