"""Command line of the benchmark (tools/benchmark/benchmark.py).

Every pair of docs/benchmarks.md in one run, on the device present (CPU
here, CUDA when a GPU exists), the two sides of each pair interleaved, the
median of 5 timed runs after a warm-up::

    python tools/benchmark/benchmark.py --quick --json out.json   # minutes
    python tools/benchmark/benchmark.py --json bench.json          # the doc

The GLIP / Grounding-DINO side runs in the reference environment
(``bash tools/env/setup_reference_env.sh``); without it those keys are
null with a message, and the run still succeeds. A full run regenerates
the tables of docs/benchmarks.md (``--doc`` for another page, ``--no-doc``
to leave it). The deployment benchmark measures the models given with
``--deployment-config CONFIG HxW`` (repeatable) and the text encoder of
``--text-encoder-config``; the tool's defaults are the demo-size models.
"""
import argparse
import json
import os.path as osp
import shlex
import sys
from typing import Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    """The options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='smaller images and depths, same pairs')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--device', help="'cpu' or 'cuda' (default: cuda "
                        'when present)')
    parser.add_argument('--threads', type=int,
                        help='torch CPU threads (both environments)')
    parser.add_argument('--sections', nargs='*',
                        default=['segmentation', 'detection', 'vocabulary'],
                        choices=['detection', 'segmentation', 'vocabulary'],
                        help='none (a bare --sections): only the '
                        'deployment benchmark')
    parser.add_argument('--no-reference', action='store_true',
                        help='skip GLIP / Grounding-DINO')
    parser.add_argument('--no-deployment', action='store_true',
                        help='skip the ONNX deployment benchmark')
    parser.add_argument('--deployment-config', nargs=2, action='append',
                        metavar=('CONFIG', 'HxW'),
                        help='a model of the deployment benchmark and its '
                        'image size, e.g. configs/detection/'
                        'lg-atss_r50_fpn_1x_coco.py 800x1216 (repeatable; '
                        "replaces the tool's default models)")
    parser.add_argument('--text-encoder-config',
                        help='config whose text encoder the deployment '
                        'benchmark times')
    parser.add_argument('--doc', help='page whose tables are regenerated '
                        '(default: docs/benchmarks.md for a full run of '
                        'both sections)')
    parser.add_argument('--no-doc', action='store_true')
    return parser.parse_args(argv)


def image_size(text: str) -> Tuple[int, int]:
    """``'400x400'`` -> ``(400, 400)`` (height, width)."""
    parts = text.lower().split('x')
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0
                                  for p in parts):
        raise ValueError(f'image size {text!r}: give HEIGHTxWIDTH with '
                         'positive integers, e.g. 800x1216.')
    return int(parts[0]), int(parts[1])


def deployment_cases(
        pairs: Sequence[Sequence[str]]) -> Tuple[Tuple[str, str, tuple], ...]:
    """``--deployment-config`` pairs as ``(name, config, (H, W))``, the
    name the config's file name, the path made absolute."""
    return tuple((osp.splitext(osp.basename(config))[0],
                  osp.abspath(config), image_size(size))
                 for config, size in pairs)


def main(argv=None,
         deployment_models: Sequence[Tuple[str, str, Tuple[int, int]]] = (),
         text_encoder_config: Optional[str] = None) -> dict:
    """Run the benchmark; print, write the JSON and the doc tables.

    Args:
        argv (list[str], optional): The options (default: ``sys.argv``).
        deployment_models (Sequence[tuple]): Default models of the
            deployment benchmark, ``(name, config, (H, W))`` (replaced by
            ``--deployment-config``).
        text_encoder_config (str, optional): Default of
            ``--text-encoder-config``.

    Returns:
        dict: The result of :func:`~mmvlm.benchmarks.runner.run_benchmark`.
    """
    args = parse_args(argv)
    if args.deployment_config:
        deployment_models = deployment_cases(args.deployment_config)
    if args.text_encoder_config:
        text_encoder_config = osp.abspath(args.text_encoder_config)
    from mmvlm.benchmarks.report import update_doc
    from mmvlm.benchmarks.runner import run_benchmark
    result = run_benchmark(quick=args.quick,
                           device=args.device,
                           threads=args.threads,
                           reference=not args.no_reference,
                           deployment=not args.no_deployment,
                           sections=tuple(args.sections),
                           on_update=lambda partial: _write(args.json,
                                                            partial),
                           deployment_models=deployment_models,
                           text_encoder_config=text_encoder_config)
    script = osp.relpath(osp.abspath(sys.argv[0]), ROOT)
    command = f'python {script} ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    whole = {'detection', 'segmentation'} <= set(args.sections)
    doc = args.doc or (osp.join(ROOT, 'docs', 'benchmarks.md')
                       if whole and not args.quick else None)
    if doc and not args.no_doc:
        update_doc(doc, result, command.strip())
    for key, value in result['keys'].items():
        met = result['met'].get(key)
        print(f'{key:40s} {value!s:>22s}  goal {result["goals"].get(key, "")}'
              f'{"" if met is None else ("  met" if met else "  MISSED")}')
    for message in result['messages']:
        print('note:', message)
    print(f'{result["seconds"]:.0f} s')
    _write(args.json, result)
    return result


def _write(path, result: dict) -> None:
    """The JSON, rewritten after every pair of a long run."""
    if path:
        with open(path, 'w') as f:
            json.dump(result, f, indent=2)
