"""The image-level track of the many-concept world: the crops' split and a
2-iteration run of every config of projects/demo/configs/image_level."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
sys.path.insert(0, osp.join(ROOT, 'projects', 'demo'))

from mmvlm_demo import concept_names  # noqa: E402
from mmvlm_demo import image_level_concept_data as crops  # noqa: E402
from mmvlm_demo import image_level_concepts as track  # noqa: E402

PRETRAIN_PYTHON = osp.join(
    os.environ.get('MMVLM_PRETRAIN_VENV', osp.join(ROOT,
                                                   '.venv-mmpretrain')),
    'bin', 'python')


def fake_art(seed: int):
    """style -> name -> a distinct 20x16 RGBA square for every name."""
    rng = np.random.default_rng(seed)
    art = {}
    for style in ('emojione', 'noto'):
        art[style] = {}
        for name in concept_names.ALL:
            rgba = np.zeros((20, 16, 4), np.uint8)
            rgba[..., :3] = rng.integers(0, 256, 3)
            rgba[2:-2, 2:-2, 3] = 255
            art[style][name] = rgba
    return art


def read_labels(out_dir, split):
    return [label for _, label in crops.read_split(out_dir, split)]


@pytest.fixture(scope='module')
def one_per_name(tmp_path_factory):
    """The splits written twice with one crop per name (same seed)."""
    saved = dict(crops.SPLITS)
    crops.SPLITS.update({
        k: (part, style, 1, offset)
        for k, (part, style, _, offset) in saved.items()
    })
    try:
        art = fake_art(0)
        backgrounds = [np.full((200, 300, 3), 90, np.uint8)]
        dirs = []
        for name in ('a', 'b'):
            out = str(tmp_path_factory.mktemp(name))
            crops.write_crop_splits(out, art, backgrounds, seed=0)
            dirs.append(out)
    finally:
        crops.SPLITS.clear()
        crops.SPLITS.update(saved)
    return dirs


def test_fixed_name_split_is_disjoint_and_seen_first():
    seen, val, test = (set(concept_names.SEEN),
                       set(concept_names.VAL_HELD_OUT),
                       set(concept_names.TEST_HELD_OUT))
    assert (len(seen), len(val), len(test)) == (574, 82, 164)
    assert not seen & val and not seen & test and not val & test
    assert crops.CLASSES[:574] == concept_names.SEEN
    assert set(crops.CLASSES) == set(concept_names.ALL)
    for part, ids in track.PART_IDS.items():
        assert [crops.CLASSES[i] for i in ids] == list(
            crops.split_names(part))


def test_crop_splits_hold_only_their_names(one_per_name):
    out = one_per_name[0]
    seen_ids = set(track.PART_IDS['seen'])
    for split, (part, _, _, _) in crops.SPLITS.items():
        labels = read_labels(out, split)
        # every name of the part once, nothing else
        assert sorted(labels) == track.PART_IDS[part], split
    train = set(read_labels(out, 'train'))
    assert train == seen_ids
    held = set(read_labels(out, 'test_held_out')) | set(
        read_labels(out, 'val_held_out'))
    assert not train & held
    with pytest.raises(ValueError, match='Unknown name part'):
        crops.split_names('held_out')


def test_crop_splits_are_deterministic(one_per_name):
    first, second = one_per_name
    for split in crops.SPLITS:
        with open(osp.join(first, f'{split}.txt')) as f:
            text = f.read()
        with open(osp.join(second, f'{split}.txt')) as f:
            assert f.read() == text
    for file, _ in crops.read_split(first, 'test_held_out_noto')[:5]:
        a = np.asarray(Image.open(osp.join(first, 'images', file)))
        b = np.asarray(Image.open(osp.join(second, 'images', file)))
        assert a.shape == (crops.CROP_SIZE, crops.CROP_SIZE, 3)
        np.testing.assert_array_equal(a, b)


def test_missing_split_file_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match='prepare_concept_crops'):
        crops.read_split(str(tmp_path), 'train')


def test_topk_accuracy_maps_columns_to_label_ids():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3]])
    labels = torch.tensor([7, 9])
    ids = [5, 7, 9]
    assert track.topk_accuracy(scores, labels, ids, 1) == 50.0
    assert track.topk_accuracy(scores, labels, ids, 2) == 100.0


def test_summary_keys_of_the_issue():
    results = dict(stock=dict(test_seen_top1=80.0),
                   lg=dict(test_seen_top1=79.0, test_held_out_top5=30.0),
                   **{'frozen-emb': dict(test_held_out_top5=20.0),
                      'frozen-gen': dict(test_held_out_top5=25.0,
                                         generate_seen_exact_pct=60.0)})
    summary = track.summary_keys(results)
    for key in ('stock_seen_top1', 'lg_seen_top1', 'frozen_emb_seen_top1',
                'frozen_gen_seen_top1', 'lg_held_out_top5',
                'frozen_best_held_out_top5', 'held_out_chance_top5',
                'generate_seen_exact_pct'):
        assert key in summary
    assert summary['frozen_best_held_out_top5'] == 25.0
    assert summary['held_out_chance_top5'] == round(500 / 164, 2)


def write_tiny_crops(root: str) -> None:
    """Four seen labels, two 64x64 crops each, in every split file the
    configs read."""
    os.makedirs(osp.join(root, 'images'))
    lines = []
    for label in range(4):
        for n in range(2):
            image = np.full((64, 64, 3), 40 * label + 20 * n, np.uint8)
            file = f'{label}_{n}.png'
            Image.fromarray(image).save(osp.join(root, 'images', file))
            lines.append(f'{file} {label}')
    for split in ('train', 'val_seen', 'test_seen'):
        with open(osp.join(root, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


@pytest.mark.skipif(not osp.isfile(PRETRAIN_PYTHON),
                    reason='.venv-mmpretrain is missing: build it with '
                    'bash tools/env/setup_mmpretrain_env.sh')
def test_every_config_trains_two_iterations(tmp_path):
    """mmengine's runner trains each config 2 iterations (batch 4) on a tiny
    crops folder, validates the configs that validate, and the generative
    model writes text."""
    data = str(tmp_path / 'crops')
    write_tiny_crops(data)
    script = textwrap.dedent(f"""
        import os.path as osp
        import torch
        import mmvlm  # noqa: F401
        from mmengine.runner import Runner
        from mmvlm_demo import image_level_concepts as track
        for kind in track.CONFIGS:
            cfg = track.load_config(kind, osp.join({str(tmp_path)!r}, kind),
                                    iters=2)
            for loader in ('train', 'val', 'test'):
                dl = cfg.get(loader + '_dataloader')
                if dl:
                    dl.dataset.data_root = {data!r}
                    dl.batch_size = 4
            runner = Runner.from_cfg(cfg)
            runner.train()
            if kind == 'frozen-gen':
                inputs = torch.zeros(1, 3, 64, 64)
                text = runner.model.generate(inputs, max_new_tokens=2)
                assert isinstance(text[0], str)
            else:
                metrics = runner.test()
                assert 'accuracy/top1' in metrics, metrics
            assert osp.isfile(osp.join({str(tmp_path)!r}, kind,
                                       'iter_2.pth'))
            print('trained', kind)
        """)
    env = dict(os.environ,
               OMP_NUM_THREADS='1',
               HF_HUB_OFFLINE='1',
               TRANSFORMERS_OFFLINE='1',
               PYTHONPATH=os.pathsep.join(
                   [osp.join(ROOT, 'projects', 'demo'), ROOT]))
    result = subprocess.run([PRETRAIN_PYTHON, '-c', script],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=1200)
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    for kind in track.CONFIGS:
        assert f'trained {kind}' in result.stdout, tail
