"""Train an mmdet or mmseg model with mmvlm components.

Same command line as mmdet's and mmsegmentation's ``tools/train.py``; the
codebase is taken from the config (``default_scope`` or its model type), so
one launcher serves detection and segmentation configs::

    python tools/train.py configs/detection/lg-atss_r50_fpn_1x_coco.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp \
        --cfg-options train_cfg.max_iters=100
"""
import argparse
import logging
import os
import sys
import os.path as osp

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmengine.logging import print_log  # noqa: E402

from mmvlm.engine import train_with_data_diagnosis  # noqa: E402
from mmvlm.engine.hooks import find_resumable_checkpoint  # noqa: E402
from mmvlm.utils import build_runner, load_config  # noqa: E402
from mmvlm.utils.cpu_threads import configure_threads  # noqa: E402
from mmvlm.utils.launch import shutdown_distributed  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train a language-guided detector or segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR (detection configs)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or, without a path, from the '
        'one last_checkpoint of the work directory names (when that is '
        'empty, missing or names an incomplete file: the newest complete '
        'checkpoint of the work directory, and the log says so)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs, e.g. '
        'train_cfg.max_iters=10 model.neck.text_encoder.name_or_path=minilm')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main() -> None:
    args = parse_args()
    # a share of the cores (OMP_NUM_THREADS when unset), with a warning
    # when concurrent runs oversubscribe them
    configure_threads()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError(
                '--auto-scale-lr needs auto_scale_lr=dict(enable=..., '
                'base_batch_size=...) in the config.')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        choice = find_resumable_checkpoint(cfg.work_dir)
        print_log(choice.reason, logger='current',
                  level=logging.WARNING if choice.fell_back else logging.INFO)
        cfg.resume = choice.path is not None
        cfg.load_from = choice.path
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    runner = build_runner(cfg)
    train_with_data_diagnosis(runner, cfg)
    shutdown_distributed(exit_process=True)


if __name__ == '__main__':
    main()
