"""One benchmark run: every pair of docs/benchmarks.md, one JSON.

Design notes: ``docs/design.md`` (module notes)."""
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence, Tuple

import torch

from mmvlm.benchmarks.vocabulary import run_vocabulary

#: Each JSON key with its goal: (comparison, bound).
GOALS = {
    'p1_train_ratio_vs_atss': ('<=', 1.10),
    'p2_train_ratio_vs_glip': ('<=', 0.40),
    'p2_infer_ratio_vs_glip': ('<=', 0.40),
    'p2_lvis_infer_ratio_vs_gdino': ('<=', 0.10),
    'p3_infer_ratio_1203_vs_80': ('<=', 1.30),
    'p4_baked_infer_ratio_vs_atss': ('<=', 1.05),
    'p5_lm_calls_per_eval': ('==', 1),
    'p6_ckpt_ratio': ('<=', 1.05),
    's1_train_ratio_vs_fpn': ('<=', 1.10),
    's2_infer_ratio_847_vs_150_256px': ('<=', 1.30),
    's2_infer_ratio_847_vs_150_512px': ('<=', 1.30),
}


@dataclass
class BenchmarkSettings:
    """Sizes of one run (``quick`` or the full run the doc reports).

    Args:
        quick (bool): Smaller images and depths, the same pairs.
        depth (int): ResNet depth of every detector.
        size (int): Detection image side.
        batch (int): Images per step.
        repeats (int): Timed runs per side (median reported, >= 5).
        warmup (int): Untimed runs per side first.
        eval_batches (int): Batches of the p5 evaluation epoch.
        seg_train_size (int): Segmentation train image side (s1).
        seg_sizes (tuple[int]): Segmentation inference sides (s2).
        glip_lm_layers (int): Layers of GLIP's random BERT-base.
        glip_blocks (int, optional): GLIP's DyHead blocks (None: 6).
        gdino_layers (int, optional): Grounding-DINO encoder / decoder
            layers (None: 6).
        gdino_queries (int, optional): Grounding-DINO queries (None: 900).
        lvis_size (int): Image side of the Grounding-DINO pair (batch 1,
            the same image on both sides).
        tiny_lm (bool): A tiny random text encoder instead of MiniLM
            (tests only: no timing meaning).
        vocab_sizes (tuple[int]): Class-name counts of the vocabulary
            memory keys (``vocab_encode_peak_mb_1k`` / ``_20k``).
        device (str): ``'cpu'`` or ``'cuda'``.
        threads (int): torch CPU threads.
    """
    quick: bool = False
    depth: int = 50
    size: int = 512
    batch: int = 2
    repeats: int = 5
    warmup: int = 1
    eval_batches: int = 3
    seg_train_size: int = 512
    seg_sizes: Tuple[int, ...] = (256, 512)
    glip_lm_layers: int = 12
    glip_blocks: Optional[int] = None
    gdino_layers: Optional[int] = None
    gdino_queries: Optional[int] = None
    lvis_size: int = 256
    tiny_lm: bool = False
    vocab_sizes: Tuple[int, ...] = (1000, 20000)
    device: str = 'cpu'
    threads: int = field(default_factory=torch.get_num_threads)

    @classmethod
    def make(cls,
             quick: bool,
             device: Optional[str] = None,
             threads: Optional[int] = None) -> 'BenchmarkSettings':
        """The quick or the full settings on ``device`` (default: CUDA
        when present)."""
        device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        extra = dict(device=device)
        if threads:
            extra['threads'] = threads
        if not quick:
            return cls(**extra)
        return cls(quick=True,
                   depth=18,
                   size=128,
                   seg_train_size=128,
                   glip_lm_layers=2,
                   glip_blocks=1,
                   gdino_layers=1,
                   gdino_queries=100,
                   lvis_size=128,
                   **extra)


def machine() -> dict:
    """Where the numbers come from."""
    info = dict(platform=platform.platform(),
                processor=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(),
                torch=torch.__version__,
                torch_threads=torch.get_num_threads())
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def goal_met(key: str, value) -> Optional[bool]:
    """Whether ``value`` meets the goal of ``key`` (None: not measured)."""
    if value is None or key not in GOALS:
        return None
    op, bound = GOALS[key]
    return value == bound if op == '==' else value <= bound


def run_benchmark(quick: bool = True,
                  device: Optional[str] = None,
                  threads: Optional[int] = None,
                  reference: bool = True,
                  deployment: bool = True,
                  sections: Tuple[str, ...] = ('segmentation', 'detection',
                                               'vocabulary'),
                  settings: Optional[BenchmarkSettings] = None,
                  on_update: Optional[Callable[[dict], None]] = None,
                  configure_allocator: bool = True,
                  deployment_models: Sequence[Tuple[str, str, Tuple[
                      int, int]]] = (),
                  text_encoder_config: Optional[str] = None) -> dict:
    """Measure every pair and return the JSON of ``docs/benchmarks.md``.

    Args:
        quick (bool): The quick settings (< 4 min on 2 CPU cores).
        device (str, optional): Default CUDA when present, else CPU.
        threads (int, optional): torch CPU threads (both environments).
        reference (bool): Run GLIP / Grounding-DINO (when the reference
            environment exists).
        deployment (bool): Add :func:`run_deployment_benchmark`.
        sections (tuple[str]): ``'detection'``, ``'segmentation'`` and /
            or ``'vocabulary'`` (:mod:`mmvlm.benchmarks.vocabulary`).
        settings (BenchmarkSettings, optional): Overrides the quick / full
            settings (tests use tiny ones).
        on_update (Callable, optional): Called with the partial result
            after every pair (the CLI writes it, so a long run keeps what
            it measured).
        configure_allocator (bool): Make glibc return freed memory at once
            (:func:`configure_memory`; process-wide and lasting, so tests
            that share the process pass False).
        deployment_models (Sequence[tuple]): The models of the deployment
            benchmark, each ``(name, config, (H, W))``; a full run adds
            the R50 configs of ``configs/``. A quick run without them
            and without ``text_encoder_config`` skips the deployment
            benchmark with a message.
        text_encoder_config (str, optional): Config whose text encoder
            the deployment benchmark times.

    Returns:
        dict: ``keys`` (every key of :data:`GOALS` and the ``mem_*``
        ratios; None when not measured), ``goals``, ``met``, ``details``,
        ``settings``, ``machine``, ``messages``, ``deployment`` and
        ``seconds`` (wall time of the run).
    """
    from mmengine.logging import MMLogger
    start = time.perf_counter()
    # model building logs every initialised weight: keep warnings only
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return _run(start, quick, device, threads, reference, deployment,
                    sections, settings, on_update, configure_allocator,
                    deployment_models, text_encoder_config)
    finally:
        logger.setLevel(level)


def _run(start, quick, device, threads, reference, deployment, sections,
         settings, on_update, configure_allocator, deployment_models,
         text_encoder_config) -> dict:
    from mmvlm.benchmarks.timing import configure_memory
    if threads:
        torch.set_num_threads(threads)
    settings = settings or BenchmarkSettings.make(quick, device, threads)
    if configure_allocator:
        configure_memory()
    out = dict(keys={k: None for k in GOALS}, details={}, messages=[])
    state = dict(deployment=None)

    def result() -> dict:
        keys = out['keys']
        return dict(keys=keys,
                    goals={
                        k: f'{op} {bound}'
                        for k, (op, bound) in GOALS.items()
                    },
                    met={k: goal_met(k, keys.get(k))
                         for k in GOALS},
                    details=out['details'],
                    settings=asdict(settings),
                    machine=machine(),
                    messages=out['messages'],
                    deployment=state['deployment'],
                    seconds=time.perf_counter() - start)

    def checkpoint() -> None:
        if on_update is not None:
            on_update(result())

    for section in sections:
        if section == 'segmentation':
            from mmvlm.benchmarks.segmentation import run_segmentation
            run_segmentation(settings, out, checkpoint)
        elif section == 'detection':
            _detection(settings, reference, out, checkpoint)
        elif section == 'vocabulary':
            run_vocabulary(settings, out, checkpoint)
        else:
            raise ValueError(f'Unknown section {section!r}; use '
                             "'detection', 'segmentation' or 'vocabulary'.")
    if deployment and settings.quick and not deployment_models and (
            text_encoder_config is None):
        out['messages'].append(
            'deployment: not run (no models given: --deployment-config '
            'CONFIG HxW, or --text-encoder-config CONFIG).')
    elif deployment:
        try:
            from mmvlm.benchmarks.deployment import run_deployment_benchmark
            state['deployment'] = run_deployment_benchmark(
                deployment_models,
                text_encoder_config=text_encoder_config,
                quick=settings.quick)
        except ImportError as error:
            out['messages'].append(f'deployment: not run ({error}).')
    final = result()
    checkpoint()
    return final


def _detection(settings, reference: bool, out: dict, checkpoint) -> None:
    """The detection pairs, with the reference worker when available."""
    from mmvlm.benchmarks.detection import run_detection
    from mmvlm.benchmarks.references import (ReferenceSession,
                                             ReferenceUnavailable)
    session, why = None, None
    if reference:
        try:
            session = ReferenceSession(threads=settings.threads)
        except ReferenceUnavailable as error:
            why = str(error)
    else:
        why = 'the reference side was not asked for (--no-reference).'
    try:
        run_detection(settings, session, why, out, checkpoint)
    finally:
        if session is not None:
            session.close()
