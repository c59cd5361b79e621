"""mmvlm.apis.evaluate_prompts on tiny language-guided models (the demo
configs with a tiny random text model) over tiny generated test splits: the
rows name the prompts really scored, the modes run the vocabularies they
promise, and a model that ignores its run-time vocabulary is caught."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg

ROOT = Path(__file__).resolve().parents[2]


def demo_config(task: str, kind: str) -> str:
    """The demo's config of a task and kind (projects/demo/configs)."""
    from projects.demo.mmvlm_demo.demo_models import DEMO_MODELS
    rel = next(m['config'] for m in DEMO_MODELS
               if m['task'] == task and m['kind'] == kind)
    return str(ROOT / rel)

SEG_CLASSES = ('background', 'left region', 'right region')
DET_CLASSES = ('tree', 'car')
TEXT = dict(_delete_=True, **tiny_text_encoder_cfg('bert', embed_dims=64))


def write_seg_split(root: Path, num: int = 2) -> Path:
    """Two 48x40 slices: a left and a right square, one ignored strip."""
    for sub in ('img_dir/test', 'ann_dir/test'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(num):
        img = np.full((48, 40, 3), 30, np.uint8)
        ann = np.zeros((48, 40), np.uint8)
        img[10:30, 4:16] = 200
        ann[10:30, 4:16] = 1
        img[10:30, 24:36] = 120
        ann[10:30, 24:36] = 2
        ann[46:] = 255
        cv2.imwrite(str(root / 'img_dir/test' / f's{i}.png'), img)
        cv2.imwrite(str(root / 'ann_dir/test' / f's{i}.png'), ann)
    return root


def seg_options(root: Path) -> dict:
    return {
        'model.neck.text_encoder': TEXT,
        'model.data_preprocessor.size': (64, 64),
        'test_dataloader.dataset.data_root': str(root),
        'test_dataloader.dataset.data_prefix': dict(
            img_path='img_dir/test', seg_map_path='ann_dir/test'),
        'test_dataloader.dataset.metainfo': dict(
            classes=SEG_CLASSES, palette=[(0, 0, 0)] * 3),
    }


def write_coco_split(root: Path) -> Path:
    """Two 96x96 images with one 'tree' and one 'car' box each."""
    (root / 'images').mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(1, 3):
        img = np.full((96, 96, 3), 90, np.uint8)
        img[10:40, 10:40] = (30, 160, 30)
        img[50:80, 50:90] = (30, 30, 200)
        cv2.imwrite(str(root / 'images' / f'{i}.png'), img)
        images.append(dict(id=i, file_name=f'{i}.png', width=96, height=96))
        for cat, box in ((1, [10, 10, 30, 30]), (2, [50, 50, 40, 30])):
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=cat,
                             bbox=box, area=box[2] * box[3], iscrowd=0))
    path = root / 'test.json'
    path.write_text(json.dumps(dict(
        images=images, annotations=anns,
        categories=[dict(id=1, name='tree'), dict(id=2, name='car')])))
    return path


def det_options(ann: Path) -> dict:
    return {
        'model.neck.text_encoder': TEXT,
        'model.test_cfg.score_thr': 0.0,
        'test_dataloader.dataset.data_root': str(ann.parent),
        'test_dataloader.dataset.ann_file': ann.name,
        'test_dataloader.dataset.metainfo': dict(classes=DET_CLASSES),
        'test_evaluator.ann_file': str(ann),
    }


@pytest.fixture(scope='module')
def segmentor(tmp_path_factory):
    pytest.importorskip('mmseg')
    from mmvlm.apis import init_language_guided_segmentor
    root = write_seg_split(tmp_path_factory.mktemp('brain'))
    torch.manual_seed(0)
    return init_language_guided_segmentor(
        demo_config('brain', 'lg-frozen'),
        cfg_options=seg_options(root))


def test_segmentation_modes_score_exactly_the_prompts(segmentor):
    from mmvlm.apis import evaluate_prompts
    together = evaluate_prompts(
        segmentor, 'background. left region. hippocampal formation='
        'right region', mode='together')
    assert [r['prompt'] for r in together] == [
        'background', 'left region', 'hippocampal formation']
    assert together[2]['class'] == 'right region'
    assert together[0]['vocabulary'] == [
        'background', 'left region', 'hippocampal formation']
    for r in together:
        assert 0.0 <= r['IoU'] <= 100.0 and 0.0 <= r['Dice'] <= 100.0
    # all pixels are given to one of the three prompts (ignored ones too)
    assert sum(r['predicted'] for r in together) == 2 * 48 * 40
    replace = evaluate_prompts(segmentor, 'car=left region',
                               mode='replace')
    assert replace[0]['vocabulary'] == ['background', 'car', 'right region']
    # alone, a prompt is scored binary against the background class (a
    # softmax head needs something to compete with)
    each = evaluate_prompts(segmentor, 'left region. hippocampus=right '
                            'region', mode='each')
    assert [r['vocabulary'] for r in each] == [
        ['background', 'left region'], ['background', 'hippocampus']]
    for r in each:
        assert 0.0 <= r['IoU'] <= 100.0 and r['predicted'] >= 0
    # the prompt's pixels are those it wins against the background only
    together = evaluate_prompts(segmentor, 'background. left region',
                                mode='together')
    assert each[0]['predicted'] == together[1]['predicted']
    with pytest.raises(ValueError, match='background class'):
        evaluate_prompts(segmentor, 'background', mode='each')


def test_each_mode_refuses_before_building_the_model(tmp_path, monkeypatch):
    """A segmentor's dataset without a background class: mode 'each' says
    so before anything is built (it used to fail after loading with 'A
    softmax decode head needs at least two vocabulary entries')."""
    pytest.importorskip('mmseg')
    from mmvlm.apis import evaluate_prompts
    from mmvlm.apis import prompt_evaluation
    root = write_seg_split(tmp_path)
    options = seg_options(root)
    options['test_dataloader.dataset.metainfo'] = dict(
        classes=('wall', 'left region', 'right region'),
        palette=[(0, 0, 0)] * 3)

    def no_build(*args, **kwargs):
        raise AssertionError('the model was built before the refusal')

    monkeypatch.setattr(prompt_evaluation, '_load', no_build)
    with pytest.raises(ValueError, match="class 0 of the dataset is 'wall'"):
        evaluate_prompts(demo_config('brain', 'lg-frozen'), 'left region',
                         mode='each', cfg_options=options)


def test_each_mode_leaves_the_background_of_a_prompts_file_out(
        segmentor, tmp_path):
    from mmvlm.apis import evaluate_prompts
    path = tmp_path / 'prompts.yaml'
    path.write_text('classes:\n- background\n'
                    '- {name: left region, synonyms: [left square]}\n'
                    '- right region\n')
    with pytest.warns(UserWarning, match="own prompts \\['background'\\]"):
        rows = evaluate_prompts(segmentor, str(path), mode='each')
    assert [r['prompt'] for r in rows] == [
        'left region', 'left square', 'right region']
    assert all(r['vocabulary'][0] == 'background' for r in rows)


def test_a_model_that_ignores_the_prompts_is_caught(segmentor, monkeypatch):
    from mmvlm.apis import evaluate_prompts
    monkeypatch.setattr(segmentor, 'set_vocabulary', lambda *a, **k: None)
    with pytest.raises(RuntimeError, match='not the prompts asked'):
        evaluate_prompts(segmentor, 'background. left region')


def test_bad_prompts_and_closed_set_models_are_errors(segmentor, tmp_path):
    pytest.importorskip('mmseg')
    from mmvlm.apis import evaluate_prompts, init_language_guided_segmentor
    with pytest.raises(ValueError, match='not a class of the dataset'):
        evaluate_prompts(segmentor, 'hippocampus')
    root = write_seg_split(tmp_path)
    options = seg_options(root)
    del options['model.neck.text_encoder']
    stock = init_language_guided_segmentor(
        demo_config('brain', 'stock'), cfg_options=options)
    with pytest.raises(TypeError, match='cannot take prompts'):
        evaluate_prompts(stock, 'left region')


def test_detection_from_config_and_checkpoint(tmp_path):
    pytest.importorskip('mmdet')
    from mmengine.runner import save_checkpoint

    from mmvlm.apis import evaluate_prompts, init_language_guided_detector
    ann = write_coco_split(tmp_path / 'trees')
    config = demo_config('trees', 'lg-frozen')
    torch.manual_seed(0)
    model = init_language_guided_detector(config,
                                          cfg_options=det_options(ann))
    ckpt = tmp_path / 'tiny.pth'
    save_checkpoint(model.state_dict(), str(ckpt))
    rows = evaluate_prompts(config, 'tree. canopy=tree. car',
                            checkpoint=str(ckpt), mode='each',
                            cfg_options=det_options(ann), max_images=1)
    assert [(r['prompt'], r['class']) for r in rows] == [
        ('tree', 'tree'), ('canopy', 'tree'), ('car', 'car')]
    for r in rows:
        assert r['vocabulary'] == [r['prompt']]
        assert 0.0 <= r['AP50'] <= 100.0 and r['predicted'] > 0
