"""Training failures, through our launchers on the demo's language-guided
models.

1. A diverging run stops with a clear message and keeps the last finite
   checkpoint. The run tested (demo language-guided ATSS, ``lr=1e6``
   after a 1e-9 warm-up, a checkpoint every iteration, ``max_keep_ckpts=1``)
   must not exit 0 with ``loss: nan`` leaving only a NaN checkpoint. Here
   it runs through our ``tools/train.py`` on the demo config, shrunk for CPU
   (a tiny random text encoder, ResNet-18 with 8 base channels, a synthetic
   tree data set), and the ``FiniteCheckHook`` the demo config inherits must
   stop it.
2. ``tools/dist_train.sh`` trains on CPU with 2 gloo ranks (torchrun), and
   the weights match a 1-process run with the same total batch, for the
   demo's language-guided ATSS and semantic FPN; ``tools/test.py`` on 2
   gloo ranks evaluates the detector.
3. A run pre-empted after iteration 4 and resumed to 8 ends with exactly
   the weights of an uninterrupted 8-iteration run (deterministic mode),
   with a LoRA + prefix text encoder, and with every socket refused.
4. Bad training data (boxes outside the image, no annotations, an image
   that does not decode) ends in a ``TrainingDataError`` naming the files
   and the fix; what the pipeline skips or clips is logged at the start.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet')

from mmvlm.testing.tiny_models import tiny_text_encoder_cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / 'projects' / 'demo' / 'configs' / \
    'lg-atss_r18-tiny_minilm_trees.py'


def write_tree_tiles(root: Path, num_images: int = 4, size: int = 64):
    """Green discs on brown ground in the demo's COCO layout."""
    import cv2
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    images, annotations = [], []
    for img_id in range(1, num_images + 1):
        img = np.full((size, size, 3), (60, 90, 110), np.uint8)  # BGR
        for _ in range(2):
            r = int(rng.integers(6, 12))
            cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
            cv2.circle(img, (cx, cy), r, (40, 180, 40), -1)
            annotations.append(
                dict(id=len(annotations) + 1, image_id=img_id,
                     category_id=1, bbox=[cx - r, cy - r, 2 * r, 2 * r],
                     area=4 * r * r, iscrowd=0))
        name = f'tile_{img_id}.png'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
    ann = dict(images=images, annotations=annotations,
               categories=[dict(id=1, name='tree')])
    for split in ('train', 'test'):
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(ann))


def tiny_demo_config(tmp_path: Path) -> Path:
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16,
                                         prefix_length=4)
    lines = [
        f'_base_ = {str(DEMO_CONFIG)!r}',
        'model = dict(',
        '    backbone=dict(base_channels=8),',
        '    neck=dict(',
        f'        text_encoder=dict(_delete_=True, **{text_encoder!r}),',
        '        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),',
        '    bbox_head=dict(embed_dims=16, in_channels=16, feat_channels=16,',
        '                   stacked_convs=1,',
        "                   norm_cfg=dict(type='GN', num_groups=4,",
        '                                 requires_grad=True)))',
        'train_dataloader = dict(batch_size=2, num_workers=0,',
        '                        persistent_workers=False)',
        'val_dataloader = dict(num_workers=0, persistent_workers=False)',
        'test_dataloader = val_dataloader',
        'default_hooks = dict(logger=dict(interval=1))',
    ]
    path = tmp_path / 'tiny_lg-atss_trees.py'
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.mark.slow
def test_nan_run_stops_and_keeps_the_finite_checkpoint(tmp_path):
    write_tree_tiles(tmp_path / 'data' / 'trees')
    config = tiny_demo_config(tmp_path)
    work_dir = tmp_path / 'nan_probe'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
               MMVLM_DEMO_DATA=str(tmp_path / 'data'))
    proc = subprocess.run([
        sys.executable,
        str(ROOT / 'tools' / 'train.py'),
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', 'optim_wrapper.optimizer.lr=1e6',
        'param_scheduler.0.start_factor=1e-9', 'train_cfg.max_iters=4',
        'train_cfg.val_interval=1000', 'default_hooks.checkpoint.interval=1'
    ], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, f'the NaN run exited 0:\n{log[-3000:]}'
    assert 'NonFiniteTrainingError' in log, log[-3000:]
    assert 'Non-finite' in log and 'lower the learning rate' in log
    assert 'Iter(train) [1/4]' in log  # iteration 1 was finite
    ckpts = sorted(work_dir.glob('iter_*.pth'))
    assert len(ckpts) == 1, ckpts  # max_keep_ckpts=1
    stopped_at = int(log.split('Non-finite ')[1].split('iteration ')[1]
                     .split()[0].rstrip(':'))
    assert int(ckpts[0].stem.split('_')[1]) < stopped_at
    state = torch.load(ckpts[0], map_location='cpu',
                       weights_only=False)['state_dict']
    bad = [k for k, v in state.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    assert not bad, f'{ckpts[0].name} holds non-finite tensors: {bad}'


#: Deterministic twin of the demo pipeline (no random crop / flip: each rank
#: would draw the same random numbers, unlike one process drawing in turn),
#: GroupNorm for BatchNorm, SGD for AdamW (see the test's docstring).
SGD = """
optim_wrapper = dict(optimizer=dict(
    _delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
"""
DET_DDP_OVERRIDES = """
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LoadClassTexts', classes=('tree', )),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.text_meta_keys}})
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
model = dict(backbone=dict(
    norm_cfg=dict(type='GN', num_groups=4, requires_grad=True)))
""" + SGD
SEG_DEMO_CONFIG = ROOT / 'projects' / 'demo' / 'configs' / \
    'lg-fpn_r18-tiny_minilm_brain.py'


def write_brain_slices(root: Path, num_images: int = 4, size: int = 64):
    """Random blobs of the 13 demo labels in the demo's mmseg layout."""
    import cv2
    rng = np.random.default_rng(0)
    for split in ('train', 'test'):
        (root / 'img_dir' / split).mkdir(parents=True)
        (root / 'ann_dir' / split).mkdir(parents=True)
        for i in range(num_images):
            label = np.zeros((size, size), np.uint8)
            for value in range(1, 13):
                x, y = (int(v) for v in rng.integers(0, size - 12, 2))
                label[y:y + 12, x:x + 12] = value
            img = np.stack([label * 19, 255 - label * 19, label * 7], -1)
            cv2.imwrite(str(root / 'img_dir' / split / f's{i}.png'), img)
            cv2.imwrite(str(root / 'ann_dir' / split / f's{i}.png'), label)


def tiny_seg_config(tmp_path: Path) -> Path:
    text_encoder = tiny_text_encoder_cfg('bert', embed_dims=16,
                                         prefix_length=4)
    gn = "dict(type='GN', num_groups=4, requires_grad=True)"
    lines = [
        f'_base_ = {str(SEG_DEMO_CONFIG)!r}',
        'model = dict(',
        '    data_preprocessor=dict(size=(64, 64)),',
        f'    backbone=dict(stem_channels=8, base_channels=8, norm_cfg={gn}),',
        '    neck=dict(',
        f'        text_encoder=dict(_delete_=True, **{text_encoder!r}),',
        '        neck=dict(in_channels=[8, 16, 32, 64], out_channels=16)),',
        '    decode_head=dict(embed_dims=16, in_channels=[16, 16, 16, 16],',
        f'                     channels=16, norm_cfg={gn}))',
        'train_pipeline = [',
        "    dict(type='LoadImageFromFile'),",
        "    dict(type='LoadAnnotations'),",
        "    dict(type='LoadClassTexts', classes={{_base_.classes}}),",
        "    dict(type='PackSegInputs', meta_keys={{_base_.text_meta_keys}})",
        ']',
        'train_dataloader = dict(batch_size=2, num_workers=0,',
        '                        persistent_workers=False,',
        '                        dataset=dict(pipeline=train_pipeline))',
        'val_dataloader = dict(num_workers=0, persistent_workers=False)',
        'test_dataloader = val_dataloader',
        'default_hooks = dict(logger=dict(interval=1))',
    ]
    path = tmp_path / 'tiny_lg-fpn_brain.py'
    path.write_text('\n'.join(lines) + '\n' + SGD)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _grad_norms(log: str) -> list:
    return [line.split('grad_norm: ')[1].split()[0]
            for line in log.splitlines()
            if 'Iter(train)' in line and 'grad_norm: ' in line]


def _train(command: list, env: dict, cwd: Path) -> str:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{command[:3]} failed:\n{log[-4000:]}'
    return log


@pytest.mark.slow
@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_dist_train_two_gloo_ranks_match_one_process(tmp_path, task):
    """2 ranks x batch 1 == 1 process x batch 2, after 3 SGD iterations.

    Same images per iteration (the infinite sampler gives rank r the
    items r, r + 2, ... of the one seeded permutation), no random
    augmentation, GroupNorm instead of BatchNorm (BatchNorm statistics
    over 1 image per rank differ from those over 2; SyncBN needs GPUs), and
    losses whose DDP average is the 2-image loss: ATSS normalises by the
    number of positives averaged over the ranks, the segmentor's
    cross-entropy is a mean over equally many pixels per image. The
    remaining difference is float32 summation order (one batched backward
    vs. two backwards summed by all-reduce): tolerance 1e-6 absolute plus
    1e-5 relative (measured: at most 3e-8 apart), and the logged
    gradient norms (the all-reduced gradient, on rank 0) are equal. SGD,
    not the demo's AdamW: Adam's m / sqrt(v) turns rounding noise on a
    near-zero gradient into a full +-lr step.
    The frozen language model has no gradients and every trainable
    parameter is used in every iteration, so DDP runs with mmengine's
    default find_unused_parameters=False.
    """
    if task == 'detection':
        write_tree_tiles(tmp_path / 'data' / 'trees')
        config = tiny_demo_config(tmp_path)
        config.write_text(config.read_text() + DET_DDP_OVERRIDES)
    else:
        write_brain_slices(tmp_path / 'data' / 'brain')
        config = tiny_seg_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1',
               MMVLM_DEMO_DATA=str(tmp_path / 'data'), MMVLM_DEMO_ITERS='3',
               PORT=str(_free_port()), PYTHON=sys.executable)
    env.pop('VIRTUAL_ENV', None)
    options = ['train_cfg.val_interval=1000']
    one = tmp_path / 'one_process'
    ref_log = _train([
        sys.executable,
        str(ROOT / 'tools' / 'train.py'),
        str(config), '--work-dir',
        str(one), '--cfg-options', *options
    ], env, tmp_path)
    two = tmp_path / 'two_ranks'
    log = _train([
        'bash',
        str(ROOT / 'tools' / 'dist_train.sh'),
        str(config), '2', '--work-dir',
        str(two), '--cfg-options', *options,
        'train_dataloader.batch_size=1', 'env_cfg.dist_cfg.backend=gloo'
    ], env, tmp_path)
    assert 'Iter(train) [3/3]' in log
    assert 'Distributed training: True' in log, log[-3000:]
    assert _grad_norms(log) == _grad_norms(ref_log) != []
    ref = torch.load(one / 'iter_3.pth', map_location='cpu',
                     weights_only=False)['state_dict']
    ddp = torch.load(two / 'iter_3.pth', map_location='cpu',
                     weights_only=False)['state_dict']
    assert ref.keys() == ddp.keys()
    for key, value in ref.items():
        torch.testing.assert_close(ddp[key], value, atol=1e-6, rtol=1e-5,
                                   msg=lambda m, k=key: f'{k}: {m}')
    if task != 'detection':
        return
    # tools/test.py on 2 gloo ranks (the same launcher path) evaluates it.
    log = _train([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}',
        str(ROOT / 'tools' / 'test.py'),
        str(config),
        str(two / 'iter_3.pth'), '--launcher', 'pytorch', '--work-dir',
        str(tmp_path / 'test_two_ranks'), '--cfg-options',
        'env_cfg.dist_cfg.backend=gloo'
    ], env, tmp_path)
    assert 'coco/bbox_mAP:' in log, log[-3000:]


def test_nccl_without_cuda_names_the_fix(tmp_path, monkeypatch):
    from mmengine.config import Config

    from mmvlm.utils.launch import init_distributed
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(launcher='pytorch',
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    with pytest.raises(RuntimeError,
                       match='env_cfg.dist_cfg.backend=gloo'):
        init_distributed(cfg)
    cfg = Config(dict(launcher='slurm',
                      env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    with pytest.raises(RuntimeError, match='--launcher pytorch only'):
        init_distributed(cfg)
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    cfg = Config(dict(launcher='pytorch',
                      env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    with pytest.raises(RuntimeError, match='torchrun'):
        init_distributed(cfg)
    assert not init_distributed(Config(dict(launcher='none')))


# ---------------------------------------------------------------------------
# 3. Resume after pre-emption, with the network disabled.
# ---------------------------------------------------------------------------
class NetworkCalled(RuntimeError):
    """A test tried to open a network connection."""


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing connection fail, and record the attempts.

    Patches ``socket.socket.connect`` / ``connect_ex`` and
    ``socket.create_connection`` (what ``requests``, ``urllib3``, ``httpx``
    and ``huggingface_hub`` end in), and sets ``HF_HUB_OFFLINE=1``.
    """
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args[1:] if args else kwargs)
        raise NetworkCalled(f'network call during the test: {args[1:]}')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket.socket, 'connect_ex', refuse)
    monkeypatch.setattr(socket, 'create_connection',
                        lambda *a, **k: refuse(None, *a, **k))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('TRANSFORMERS_OFFLINE', '1')
    return calls


def _train_in_process(config: Path, work_dir: Path, stop_at: int = 0,
                      resume: bool = False):
    """Run ``tools/train.py``'s path in this process (load_config +
    build_runner); with ``stop_at`` the run is killed after that
    iteration, as a pre-empted job would be."""
    from mmengine.hooks import Hook

    from mmvlm.utils import build_runner, load_config

    class Preempt(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if runner.iter + 1 == stop_at:
                raise KeyboardInterrupt(f'pre-empted at {stop_at}')

    cfg = load_config(str(config), dict(
        randomness=dict(seed=0, deterministic=True),
        **{'train_cfg.val_begin': 1000,
           'default_hooks.checkpoint.interval': 4,
           'default_hooks.checkpoint.max_keep_ckpts': 3}), str(work_dir))
    if resume:
        cfg.resume, cfg.load_from = True, None
    runner = build_runner(cfg)
    if stop_at:
        runner.register_hook(Preempt(), priority='LOWEST')
    try:
        runner.train()
    except KeyboardInterrupt:
        assert stop_at
    finally:
        from mmengine.logging import MMLogger
        for handler in MMLogger.get_current_instance().handlers:
            handler.flush()
    return runner


def _state(path: Path) -> dict:
    return torch.load(path, map_location='cpu',
                      weights_only=False)['state_dict']


@pytest.mark.slow
def test_resume_4_to_8_equals_uninterrupted_8(tmp_path, monkeypatch,
                                             no_network):
    """Train 8 iterations; kill a twin run after 4, resume it to 8.

    The demo's language-guided ATSS shrunk for CPU (as above) in
    deterministic mode, with the demo's random crop and flip. The 8-iteration
    schedule (warm-up, cosine) is the same in both runs; the pre-empted run
    stops after the checkpoint of iteration 4 is written. Both end with
    exactly equal weights. The text encoder trains a 4-token prefix and LoRA
    adapters (r=2) on the frozen LM: the checkpoint holds both and no frozen
    language-model tensor; the resumed run starts from them (they move on
    after iteration 4 and end equal to the uninterrupted run's); resuming
    reports no missing or unexpected keys and nothing opens a network
    connection.
    """
    write_tree_tiles(tmp_path / 'data' / 'trees')
    config = tiny_demo_config(tmp_path)
    config.write_text(config.read_text() + (
        'model = dict(neck=dict(text_encoder=dict('
        'lora=dict(r=2, lora_alpha=4))))\n'))
    monkeypatch.setenv('MMVLM_DEMO_DATA', str(tmp_path / 'data'))
    monkeypatch.setenv('MMVLM_DEMO_ITERS', '8')
    monkeypatch.chdir(tmp_path)

    _train_in_process(config, tmp_path / 'straight')
    _train_in_process(config, tmp_path / 'resumed', stop_at=4)
    assert sorted(p.name for p in (tmp_path / 'resumed').glob('*.pth')) \
        == ['iter_4.pth']
    at_4 = _state(tmp_path / 'resumed' / 'iter_4.pth')
    runner = _train_in_process(config, tmp_path / 'resumed', resume=True)
    assert runner.iter == 8

    # The checkpoint: learned text-side tensors in, frozen LM out.
    text_keys = [k for k in at_4 if '.text_encoder.' in k]
    assert 'neck.text_encoder.prefix' in text_keys, text_keys
    assert any('lora_' in k for k in text_keys), text_keys
    frozen = [k for k in text_keys
              if '.lm.' in k and 'lora_' not in k]
    assert not frozen, f'frozen LM tensors in the checkpoint: {frozen[:5]}'
    # Resuming reported no missing / unexpected keys.
    logs = sorted((tmp_path / 'resumed').glob('*/*.log'))
    resume_log = logs[-1].read_text()
    assert 'resumed epoch: 0, iter: 4' in resume_log, resume_log[-2000:]
    for warning in ('missing keys', 'unexpected key'):
        assert warning not in resume_log, resume_log[-3000:]

    straight = _state(tmp_path / 'straight' / 'iter_8.pth')
    resumed = _state(tmp_path / 'resumed' / 'iter_8.pth')
    assert straight.keys() == resumed.keys() == at_4.keys()
    changed = [k for k in text_keys if not torch.equal(at_4[k], resumed[k])]
    assert changed, 'the text-side tensors did not train after iteration 4'
    for key, value in straight.items():
        assert torch.equal(resumed[key], value), key
    assert no_network == []


# ---------------------------------------------------------------------------
# 4. Bad training data: a clear message naming the files and the fix.
# ---------------------------------------------------------------------------
def _break_tree_tiles(root: Path, case: str):
    ann_file = root / 'annotations' / 'train.json'
    coco = json.loads(ann_file.read_text())
    if case == 'boxes_wholly_outside':
        for ann in coco['annotations']:
            ann['bbox'] = [200, 200, 10, 10]
    elif case == 'no_annotations':
        coco['annotations'] = []
    elif case == 'corrupted_image':
        (root / 'images' / 'tile_1.png').write_bytes(b'not a png')
    elif case == 'unknown_category_ids':  # half of them: silently dropped
        for ann in coco['annotations'][::2]:
            ann['category_id'] = 99
    elif case == 'malformed_json':
        ann_file.write_text(json.dumps(coco)[:-40])  # a truncated copy
        return
    else:  # 'imperfect': trains, and says what it skips and clips
        coco['annotations'] = [a for a in coco['annotations']
                               if a['image_id'] != 4]
        coco['annotations'][0]['bbox'] = [50, 50, 30, 30]
    ann_file.write_text(json.dumps(coco))


@pytest.mark.parametrize('case', [
    'boxes_wholly_outside', 'no_annotations', 'corrupted_image', 'imperfect',
    'unknown_category_ids', 'malformed_json'
])
def test_bad_training_data_names_the_files_and_the_fix(
        tmp_path, monkeypatch, case):
    """Through ``tools/train.py``'s path (build_runner +
    train_with_data_diagnosis) on the shrunk demo detector. Before:
    ``Cannot find valid image after 1000!``, ``need at least one array to
    concatenate`` and ``failed to load image``, and images without
    annotations silently never trained on."""
    from mmengine.logging import MMLogger

    from mmvlm.utils import build_runner, load_config
    from mmvlm.engine import TrainingDataError, train_with_data_diagnosis
    data = tmp_path / 'data'
    write_tree_tiles(data / 'trees')
    _break_tree_tiles(data / 'trees', case)
    config = tiny_demo_config(tmp_path)
    monkeypatch.setenv('MMVLM_DEMO_DATA', str(data))
    monkeypatch.setenv('MMVLM_DEMO_ITERS', '2')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(str(config), {'train_cfg.val_begin': 1000},
                      str(tmp_path / 'work'))
    runner = build_runner(cfg)
    if case == 'imperfect':
        train_with_data_diagnosis(runner, cfg)
        for handler in MMLogger.get_current_instance().handlers:
            handler.flush()
        log = next((tmp_path / 'work').glob('*/*.log')).read_text()
        assert 'Training data: what the pipeline skips' in log
        assert ("image 'tile_4.png': has no annotations: it will be "
                'skipped in training (filter_cfg.filter_empty_gt=True') in log
        assert 'bbox [50, 50, 30, 30] extends outside the 64x64 image' in log
        return
    if case == 'unknown_category_ids':
        from mmvlm.datasets.checks import DroppedAnnotationsError
        with pytest.raises(DroppedAnnotationsError) as err:
            train_with_data_diagnosis(runner, cfg)
        assert 'Training would silently lose annotations: train.json: ' \
            '4 of its 8 annotations (50.0 %)' in str(err.value)
        assert '99: 4' in str(err.value)
        assert not list((tmp_path / 'work').glob('*.pth'))  # never trained
        return
    with pytest.raises(TrainingDataError) as err:
        train_with_data_diagnosis(runner, cfg)
    message = str(err.value)
    assert 'Training stopped on its data' in message
    assert 'check_dataset.py' in message
    if case == 'boxes_wholly_outside':
        assert 'Cannot find valid image' in message
        assert 'bbox [200, 200, 10, 10] lies wholly outside the 64x64 ' \
            'image' in message
        assert 'none of its 8 boxes can be trained on' in message
    elif case == 'no_annotations':
        assert 'filter_empty_gt=False' in message
        assert 'no image has an annotation' in message
    elif case == 'malformed_json':
        assert "annotation file '" + str(
            data / 'trees' / 'annotations' / 'train.json') + \
            "' is not valid JSON" in message
    else:
        assert "image '" + str(data / 'trees' / 'images' / 'tile_1.png') \
            + "': does not decode as an image" in message
