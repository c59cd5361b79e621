"""onnxruntime vs PyTorch on the CPU: latency, peak memory, file sizes.

Design notes: ``docs/design.md`` (module notes)."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: One model of the benchmark: (name, config, image (H, W)). A relative
#: config path is relative to the repository root.
DeploymentCase = Tuple[str, str, Tuple[int, int]]

#: Added by ``quick=False``: the R50 configs (COCO / ADE20K test sizes).
R50_MODELS: Tuple[DeploymentCase, ...] = (
    ('LG-ATSS R50 (COCO)', 'configs/detection/lg-atss_r50_fpn_1x_coco.py',
     (800, 1216)),
    ('LG-RetinaNet R50 (COCO)',
     'configs/detection/lg-retinanet_r50_fpn_1x_coco.py', (800, 1216)),
    ('LG-FCOS R50 (COCO)', 'configs/detection/lg-fcos_r50_fpn_1x_coco.py',
     (800, 1216)),
    ('LG-FPN R50 (ADE20K)', 'configs/segmentation/lg-fpn_r50_ade20k.py',
     (512, 683)),
    ('LG-UPerNet R50 (ADE20K)',
     'configs/segmentation/lg-upernet_r50_ade20k.py', (512, 683)),
)

#: Peak resident set of this process (VmHWM: unlike ru_maxrss it does not
#: start from the parent's size at fork).
_PEAK_RSS = """
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]
print(json.dumps(dict(peak_rss_mb=int(hwm[0].split()[1]) / 1024)))
"""

#: One image through the export, in a process without torch.
_ONNX_PROCESS = '''
import importlib.util, json, sys
import numpy as np
folder, height, width, threads = sys.argv[1], *map(int, sys.argv[2:5])
spec = importlib.util.spec_from_file_location(
    'mmvlm_runtime', folder + '/mmvlm_runtime.py')
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)
model = rt.load_model(folder, threads=threads)
image = np.random.RandomState(0).randint(0, 255, (height, width, 3), np.uint8)
model(image)
assert 'torch' not in sys.modules
''' + _PEAK_RSS

#: One image through the PyTorch model, in a fresh process.
_TORCH_PROCESS = '''
import json, sys
import numpy as np
import torch
from mmvlm.benchmarks.deployment import build_model, torch_runner
config, height, width, threads = sys.argv[1], *map(int, sys.argv[2:5])
torch.set_num_threads(threads)
model = build_model(config)
image = np.random.RandomState(0).randint(0, 255, (height, width, 3), np.uint8)
torch_runner(model, image)()
''' + _PEAK_RSS


def build_model(config: str) -> torch.nn.Module:
    """The model of a config, randomly initialised (no pretrained backbone
    download), in eval mode."""
    from mmvlm.deployment import load_model
    from mmvlm.deployment.onnx_export import is_segmentor_config
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    options = {}
    if not is_segmentor_config(cfg):
        options['model.backbone.init_cfg'] = None
    return load_model(cfg, cfg_options=options)[0]


def torch_runner(model: torch.nn.Module,
                 image_rgb: np.ndarray) -> Callable[[], object]:
    """A call running PyTorch inference on one image: data preprocessor,
    model, post-processing (``test_step``), vocabulary encoded once."""
    from mmvlm.apis.model_vocabulary import temporary_vocabulary
    from mmvlm.deployment.onnx_export import default_vocabulary
    height, width = image_rgb.shape[:2]
    tensor = torch.from_numpy(
        np.ascontiguousarray(image_rgb[..., ::-1].transpose(2, 0, 1)))
    meta = dict(img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0))
    if hasattr(model, 'decode_head'):
        from mmseg.structures import SegDataSample
        sample = SegDataSample(metainfo=meta)
    else:
        from mmdet.structures import DetDataSample
        sample = DetDataSample(metainfo=meta)
    entries, ids = default_vocabulary(model)

    @torch.no_grad()
    def run():
        with temporary_vocabulary(model, entries, ids):
            return model.test_step(dict(inputs=[tensor],
                                        data_samples=[sample]))

    return run


def interleaved_medians(runs: Dict[str, Callable[[], object]],
                        repeats: int = 5,
                        warmup: int = 1) -> Dict[str, float]:
    """Median wall time (ms) of each call, the calls interleaved.

    Args:
        runs (dict[str, Callable]): Calls by name.
        repeats (int): Timed rounds (each call once per round).
        warmup (int): Untimed rounds first.

    Returns:
        dict[str, float]: Median milliseconds by name.
    """
    for _ in range(warmup):
        for run in runs.values():
            run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_rss(code: str, args: List[str]) -> Optional[float]:
    """Peak resident memory (MiB) of a fresh Python process running
    ``code`` (None when it fails)."""
    env = dict(os.environ,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', code] + args,
                         capture_output=True,
                         text=True,
                         cwd=ROOT,
                         env=env,
                         timeout=900)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_rss_mb']


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 1)


def _image(shape: Tuple[int, int]) -> np.ndarray:
    return np.random.RandomState(0).randint(0, 255, (*shape, 3), np.uint8)


def benchmark_model(name: str, config: str, shape: Tuple[int, int],
                    repeats: int, threads: int, folder: str) -> dict:
    """Export one model and measure it (see the module docstring)."""
    from mmvlm.deployment import export_onnx
    from mmvlm.deployment.parity import load_runtime
    model = build_model(config)
    meta = export_onnx(config, folder, model=model)
    runtime = load_runtime(folder)
    session = runtime.load_model(folder, threads=threads)
    image = _image(shape)
    medians = interleaved_medians(
        dict(pytorch=torch_runner(model, image),
             onnxruntime=lambda: session(image)), repeats)
    args = [str(shape[0]), str(shape[1]), str(threads)]
    return dict(
        name=name,
        config=config,
        task=meta['task'],
        image_hw=list(shape),
        vocabulary_size=len(meta['classes']),
        pytorch_ms=round(medians['pytorch'], 1),
        onnxruntime_ms=round(medians['onnxruntime'], 1),
        speedup=round(medians['pytorch'] / medians['onnxruntime'], 2),
        pytorch_peak_rss_mb=_round(peak_rss(_TORCH_PROCESS, [config] + args)),
        onnxruntime_peak_rss_mb=_round(peak_rss(_ONNX_PROCESS,
                                                [folder] + args)),
        onnx_mb=round(meta['files'][meta['onnx']] / 2**20, 2))


def benchmark_text_encoder(config: str, repeats: int, threads: int,
                           folder: str) -> dict:
    """Export a model's text encoder and time a vocabulary embedding."""
    from mmvlm.deployment import export_text_encoder_folder
    from mmvlm.deployment.onnx_export import default_vocabulary
    from mmvlm.deployment.parity import load_runtime
    model = build_model(config)
    encoder = model.neck.text_encoder.eval()
    spec = export_text_encoder_folder(encoder, folder)['text_encoder']
    runtime = load_runtime(folder)
    onnx_encoder = runtime.TextEncoder(folder, threads=threads)
    vocab = default_vocabulary(model)[0]

    @torch.no_grad()
    def run_torch():
        encoder.invalidate_cache()  # time the LM, not the cache
        return encoder.encode_vocabulary(vocab)

    medians = interleaved_medians(
        dict(pytorch=run_torch, onnxruntime=lambda: onnx_encoder(vocab)),
        repeats)
    return dict(name=f'text encoder {spec["language_model"]} + prefix + '
                'projection',
                config=config,
                vocabulary_size=len(vocab),
                pytorch_ms=round(medians['pytorch'], 1),
                onnxruntime_ms=round(medians['onnxruntime'], 1),
                speedup=round(medians['pytorch'] / medians['onnxruntime'], 2),
                onnx_mb=round(
                    osp.getsize(osp.join(folder, spec['onnx'])) / 2**20, 2))


def check_config(config: str, what: str) -> None:
    """Raise FileNotFoundError naming ``config`` when it does not exist
    (relative to the repository root unless absolute)."""
    if not isinstance(config, str) or not osp.isfile(osp.join(ROOT, config)):
        raise FileNotFoundError(
            f'{what}: config {config!r} does not exist (a relative path is '
            f'read from {ROOT}); give an existing config file.')


def check_cases(models: Sequence[DeploymentCase]) -> None:
    """Raise a clear error for a case the benchmark cannot run.

    Args:
        models (Sequence[DeploymentCase]): ``(name, config, (H, W))``.

    Raises:
        ValueError: A case not of that form.
        FileNotFoundError: A config that does not exist.
    """
    for case in models:
        if not (isinstance(case, (tuple, list)) and len(case) == 3
                and isinstance(case[2], (tuple, list)) and len(case[2]) == 2
                and all(isinstance(v, int) and v > 0 for v in case[2])):
            raise ValueError(
                f'deployment case {case!r}: give (name, config, (height, '
                "width)) with positive sizes, e.g. ('LG-ATSS', "
                "'configs/detection/lg-atss_r50_fpn_1x_coco.py', "
                '(800, 1216)).')
        check_config(case[1], f'deployment case {case[0]!r}')


def run_deployment_benchmark(models: Sequence[DeploymentCase] = (),
                             text_encoder_config: Optional[str] = None,
                             quick: bool = True,
                             repeats: int = 5,
                             threads: int = 1) -> dict:
    """onnxruntime vs PyTorch CPU latency, peak memory and file sizes.

    Args:
        models (Sequence[DeploymentCase]): The caller's models, each
            ``(name, config, (H, W))`` (``tools/benchmark/benchmark.py``
            gives the demo-size models of ``projects/demo/configs``).
        text_encoder_config (str, optional): Config whose text encoder
            (language model, prefix, projection) is exported and timed on
            its own vocabulary. None: no text encoder row.
        quick (bool): False adds the R50 configs of ``configs/``
            (:data:`R50_MODELS`, minutes).
        repeats (int): Timed interleaved rounds (median reported), after
            one warm-up round. At least 5.
        threads (int): CPU threads of both PyTorch and onnxruntime.

    Returns:
        dict: ``models`` (one row per model: latencies in ms, speed-up,
        peak RSS in MiB of a PyTorch and of a torch-free process, ONNX file
        size in MiB), ``text_encoder`` (None without
        ``text_encoder_config``), and the settings and versions.
    """
    import onnxruntime
    if repeats < 5:
        raise ValueError(f'repeats={repeats}; the benchmark reports the '
                         'median of at least 5 rounds.')
    cases = tuple(models) + (() if quick else R50_MODELS)
    check_cases(cases)
    if text_encoder_config is not None:
        check_config(text_encoder_config, 'text_encoder_config')
    if not cases and text_encoder_config is None:
        raise ValueError('run_deployment_benchmark: no model to measure; '
                         'give models=[(name, config, (H, W))], '
                         'text_encoder_config or quick=False.')
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows, text = [], None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for index, (name, config, shape) in enumerate(cases):
                rows.append(
                    benchmark_model(name, config, tuple(shape), repeats,
                                    threads, osp.join(tmp, str(index))))
            if text_encoder_config is not None:
                text = benchmark_text_encoder(text_encoder_config, repeats,
                                              threads, osp.join(tmp, 'text'))
    finally:
        torch.set_num_threads(saved_threads)
    return dict(models=rows,
                text_encoder=text,
                quick=quick,
                repeats=repeats,
                threads=threads,
                weights='random initialisation',
                versions=dict(torch=torch.__version__,
                              onnxruntime=onnxruntime.__version__))
