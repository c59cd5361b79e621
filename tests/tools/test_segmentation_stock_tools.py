"""The stock mmseg tools/train.py and tools/test.py run every lg-* config.

Each config is trained for 2 iterations on CPU on tiny synthetic data laid
out like the real set (ADE20K, Kvasir-SEG, ISIC-2018, Synapse), with a tiny
backbone and a tiny random text encoder given through ``--cfg-options``,
then evaluated with the stock ``IoUMetric`` by the stock ``tools/test.py``.
The scripts are the ones shipped in the mmsegmentation wheel
(``mmseg/.mim/tools``), run as subprocesses as a user runs them.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

mmseg = pytest.importorskip('mmseg')

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'segmentation'
TOOLS = Path(mmseg.__file__).parent / '.mim' / 'tools'
IMG = 64

TINY_TEXT = [
    'model.neck.text_encoder.name_or_path=None',
    'model.neck.text_encoder.tokenizer=minilm',
    'model.neck.text_encoder.embed_dims=16',
    'model.neck.text_encoder.hf_config.model_type=bert',
    'model.neck.text_encoder.hf_config.hidden_size=32',
    'model.neck.text_encoder.hf_config.num_hidden_layers=1',
    'model.neck.text_encoder.hf_config.num_attention_heads=2',
    'model.neck.text_encoder.hf_config.intermediate_size=64',
    'model.neck.text_encoder.hf_config.max_position_embeddings=64',
    'model.decode_head.embed_dims=16',
]
TINY_RESNET = [
    'model.pretrained=None',
    'model.backbone.depth=18',
    'model.backbone.stem_channels=8',
    'model.backbone.base_channels=8',
]
TINY_UNET = [
    'model.backbone.base_channels=4', 'model.decode_head.channels=4',
    'model.decode_head.in_channels=4'
]
LOOP = [
    'train_cfg.max_iters=2', 'train_cfg.val_interval=1000',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    f'model.data_preprocessor.size=({IMG},{IMG})'
]


def loader_options(train_resize: int, test_resize: int) -> list:
    opts = [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.pipeline.{train_resize}.scale=({IMG},{IMG})'
    ]
    for split in ('val', 'test'):
        opts += [
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.dataset.pipeline.{test_resize}.scale='
            f'({IMG},{IMG})'
        ]
    return opts


def write_split(root: Path, img_dir: str, ann_dir: str, labels: list,
                img_suffix: str) -> None:
    (root / img_dir).mkdir(parents=True, exist_ok=True)
    (root / ann_dir).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, label in enumerate(labels):
        img = rng.integers(0, 255, (IMG, IMG, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / img_dir / f'im{i}{img_suffix}')
        Image.fromarray(label.astype(np.uint8)).save(root / ann_dir /
                                                     f'im{i}.png')


def label_maps(values: list) -> list:
    maps = []
    for shift in range(3):
        label = np.full((IMG, IMG), values[0], np.uint8)
        label[8 + shift:40, 8:40] = values[1]
        label[40:, 30 + shift:] = values[-1]
        maps.append(label)
    return maps


def ade_data(root: Path) -> list:
    for split in ('training', 'validation'):
        write_split(root, f'images/{split}', f'annotations/{split}',
                    label_maps([1, 13, 10]), '.jpg')  # wall, person, grass
    return [f'train_dataloader.dataset.data_root={root}'] + [
        f'{s}_dataloader.dataset.data_root={root}' for s in ('val', 'test')
    ]


def ade_test_data(root: Path) -> list:
    """ADE20K training folders plus the test release (images only)."""
    options = ade_data(root)
    write_split(root, 'release_test/testing', 'unused', label_maps([1, 2, 3]),
                '.jpg')
    return options[:1] + [
        f'test_dataloader.dataset.data_root={root / "release_test"}',
        'test_dataloader.dataset.pipeline.1.scale=(64,64)',
        f'test_evaluator.output_dir={root / "submission"}',
        f'val_dataloader.dataset.data_root={root}'
    ]


def medical_data(root: Path) -> list:
    for split in ('train', 'val'):
        write_split(root, f'images/{split}', f'masks/{split}',
                    label_maps([0, 1, 1]), '.png')
    return [
        f'{s}_dataloader.dataset.data_root={root}'
        for s in ('train', 'val', 'test')
    ]


def synapse_data(root: Path) -> list:
    for split in ('train', 'val'):
        write_split(root, f'img_dir/{split}', f'ann_dir/{split}',
                    label_maps([0, 3, 5]), '.jpg')
    return [
        f'{s}_dataloader.dataset.data_root={root}'
        for s in ('train', 'val', 'test')
    ]


FPN = TINY_RESNET + [
    'model.neck.neck.in_channels=[8,16,32,64]',
    'model.neck.neck.out_channels=16',
    'model.decode_head.in_channels=[16,16,16,16]',
    'model.decode_head.channels=16',
] + loader_options(
    2, 1) + [f'train_dataloader.dataset.pipeline.3.crop_size=({IMG},{IMG})']

CASES = {
    'lg-fpn_r50_ade20k.py': (ade_data, FPN, 'mIoU'),
    'lg-fpn_r50_ade20k-open-vocabulary.py': (ade_data, FPN, 'mIoU_seen'),
    'lg-fpn_r50_ade20k-submission.py': (ade_test_data, FPN, 'submission'),
    'lg-upernet_r50_ade20k.py': (ade_data, TINY_RESNET + [
        'model.decode_head.in_channels=[8,16,32,64]',
        'model.decode_head.channels=16',
        'model.auxiliary_head.in_channels=32',
        'model.auxiliary_head.channels=8',
        'model.auxiliary_head.embed_dims=16',
        f'train_dataloader.dataset.pipeline.3.crop_size=({IMG},{IMG})',
    ] + loader_options(2, 1), 'mIoU'),
    'medical/lg-unet_kvasir-seg.py': (medical_data, TINY_UNET + [
        f'model.test_cfg.crop_size=({IMG},{IMG})',
        'model.test_cfg.stride=(48,48)',
        f'train_dataloader.dataset.pipeline.3.crop_size=({IMG},{IMG})',
    ] + loader_options(2, 1), 'mDice'),
    'medical/lg-unet_isic2018-task1.py': (medical_data, TINY_UNET + [
        f'model.test_cfg.crop_size=({IMG},{IMG})',
        'model.test_cfg.stride=(48,48)',
        f'train_dataloader.dataset.pipeline.3.crop_size=({IMG},{IMG})',
    ] + loader_options(2, 1), 'mDice'),
    'medical/lg-unet_synapse.py': (synapse_data, TINY_UNET + [
        'model.auxiliary_head.in_channels=8',
        'model.auxiliary_head.channels=4',
        'model.auxiliary_head.embed_dims=16',
    ] + loader_options(2, 1), 'mDice'),
}



def test_every_lg_config_is_covered():
    found = {
        osp.relpath(p, CONFIGS)
        for p in glob.glob(str(CONFIGS / '**' / 'lg-*.py'), recursive=True)
    }
    assert found == set(CASES)


def run_tool(script: str, argv: list) -> None:
    # one thread: on a shared 2-core machine OpenMP threads thrash
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=str(REPO) + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, str(TOOLS / script)] + argv,
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (
        f'{script} {" ".join(argv)} failed:\n{proc.stdout[-3000:]}\n'
        f'{proc.stderr[-6000:]}')


@pytest.mark.parametrize('config', sorted(CASES))
def test_stock_train_and_test_tools(tmp_path, monkeypatch, config):
    # No TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD: importing mmvlm (custom_imports)
    # lets torch's weights-only loading read mmengine checkpoints.
    make_data, options, key = CASES[config]
    options = (make_data(tmp_path / 'data') + options + TINY_TEXT + LOOP +
               [f'experiment_name={Path(config).stem}-{id(tmp_path)}'])
    work_dir = tmp_path / 'work'
    run_tool(
        'train.py',
        [str(CONFIGS / config), '--work-dir',
         str(work_dir), '--cfg-options'] + options)
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    run_tool('test.py', [
        str(CONFIGS / config),
        str(checkpoint), '--work-dir',
        str(work_dir / 'test'), '--cfg-options'
    ] + options)
    if key == 'submission':
        pngs = sorted(
            glob.glob(str(tmp_path / 'data' / 'submission' / '*.png')))
        assert [osp.basename(p)
                for p in pngs] == ['im0.png', 'im1.png', 'im2.png']
        pred = np.asarray(Image.open(pngs[0]))
        assert pred.shape == (IMG, IMG)
        # ADE's server format: ids 1..150 (reduce_zero_label undone)
        assert 1 <= pred.min() and pred.max() <= 150
        return
    logs = glob.glob(str(work_dir / 'test' / '**' / '*.json'), recursive=True)
    metrics = {}
    for path in logs:
        with open(path) as f:
            for line in f:
                metrics.update(json.loads(line))
    assert key in metrics, (logs, metrics)
    assert 0.0 <= metrics['mIoU'] <= 100.0
