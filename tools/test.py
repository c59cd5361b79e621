"""Test (and evaluate) an mmdet or mmseg model with mmvlm components.

Same command line as mmdet's and mmsegmentation's ``tools/test.py``; the
codebase is taken from the config::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
    python tools/test.py CONFIG CHECKPOINT --out results.pkl   # detection
    python tools/test.py CONFIG CHECKPOINT --out pred_dir      # segmentation

Format-only runs (leaderboard submissions) use the metric's own options, e.g.
``--cfg-options test_evaluator.format_only=True
test_evaluator.outfile_prefix=work_dirs/test-dev`` for COCO.

Per-prompt evaluation of a language-guided model (which words does it
understand?): ``--prompts`` runs the test split with exactly the given
prompts and prints the stock metric of each prompt on its class (bbox AP /
AP50 for detection, IoU / Dice for segmentation)::

    python tools/test.py CONFIG CKPT --prompts "tree. canopy=tree. car=tree"
    python tools/test.py CONFIG CKPT --prompts "..." --prompt-mode replace

``prompt=class`` maps a prompt to a dataset class; a prompt without ``=``
must be a class name; a prompts file (``.yaml`` / ``.json``, the one the
config reads) scores each prompt and synonym of every class.
``--prompt-mode``: ``together`` (one vocabulary of all prompts, default),
``each`` (every prompt alone) or ``replace`` (every prompt in place of its
class's name among the dataset's classes; a segmentor scores each prompt
in ``each`` binary against the dataset's background class). The rows are
also written to ``<work-dir>/prompts.json`` (default work dir:
``work_dirs/<config name>``).

Threads: without ``OMP_NUM_THREADS`` the process takes the cores divided by
the mmvlm runs alive on the machine, and warns when the runs' threads
exceed the cores (``mmvlm.utils.cpu_threads``).
"""
import argparse
import os
import sys
import os.path as osp

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmvlm.utils import build_runner, load_config  # noqa: E402
from mmvlm.utils.cpu_threads import configure_threads  # noqa: E402
from mmvlm.utils.launch import shutdown_distributed  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test a language-guided detector or segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out',
        help='detection: dump predictions to this .pkl file; segmentation: '
        'write prediction PNGs into this directory')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='save painted predictions into this directory')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--prompts',
        help='evaluate with exactly these prompts, one metric per prompt: '
        '"a. b=class. c" (full stops between prompts; prompt=class maps a '
        'prompt to a dataset class) or a prompts file (.yaml/.json)')
    parser.add_argument(
        '--prompt-mode',
        choices=['together', 'each', 'replace'],
        default='together',
        help='with --prompts: all prompts in one vocabulary, each alone (a '
        'segmentor: each against the background class), or each in place '
        "of its class's name")
    parser.add_argument(
        '--prompt-score-thr',
        type=float,
        help='with --prompts, detection: score each prompt on its boxes '
        'scoring at least this (an operating point; AP alone ranks boxes '
        'and ignores how high they score)')
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg, args: argparse.Namespace):
    """Turn on the visualization hook as the stock test tools do."""
    hook = cfg.default_hooks.get('visualization', None)
    if hook is None:
        raise RuntimeError(
            '--show / --show-dir need default_hooks.visualization in the '
            "config, e.g. visualization=dict(type='DetVisualizationHook').")
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if cfg.default_scope == 'mmdet':
            hook['test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def evaluate_prompts_cli(cfg, args: argparse.Namespace) -> None:
    """``--prompts``: per-prompt metrics, printed and saved."""
    import json

    from mmvlm.apis import evaluate_prompts
    from mmvlm.evaluation import prompt_table
    if args.launcher != 'none' or args.out or args.show or args.show_dir:
        raise ValueError('--prompts runs on one process and writes a table;'
                         ' drop --launcher / --out / --show / --show-dir.')
    rows = evaluate_prompts(
        cfg, args.prompts, checkpoint=args.checkpoint, mode=args.prompt_mode,
        score_thr=args.prompt_score_thr)
    print(f'Per-prompt evaluation ({args.prompt_mode}):')
    print(prompt_table(rows))
    if cfg.get('work_dir'):
        os.makedirs(cfg.work_dir, exist_ok=True)
        path = osp.join(cfg.work_dir, 'prompts.json')
        with open(path, 'w') as f:
            json.dump(rows, f, indent=1)
        print(f'Rows written to {path}')


def main() -> None:
    args = parse_args()
    # a share of the cores (OMP_NUM_THREADS when unset), with a warning
    # when concurrent runs oversubscribe them
    configure_threads()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint {args.checkpoint!r} not found.')
    if args.prompts is not None:
        evaluate_prompts_cli(cfg, args)
        return
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = enable_visualization(cfg, args)
    if args.out is not None and cfg.default_scope == 'mmseg':
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True

    runner = build_runner(cfg)
    if args.out is not None and cfg.default_scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {args.out!r}: detection results are '
                             'dumped to a .pkl file.')
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    runner.test()
    shutdown_distributed(exit_process=True)


if __name__ == '__main__':
    main()
