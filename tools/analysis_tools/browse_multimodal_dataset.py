"""Render samples of a multimodal pipeline (image + prompts + labels) to PNG.

Example::

    python tools/analysis_tools/browse_multimodal_dataset.py \\
        configs/my_config.py --output-dir work_dirs/browse --num-samples 8

Each PNG shows the augmented image with its ground truth (boxes and masks
labelled with the text they index into, label maps blended in colour) and,
on the right, the sample's vocabulary. Library:
``mmvlm.visualization.dataset_browser``.
"""
import argparse
from typing import List, Sequence

from mmengine.config import Config, DictAction

from mmvlm.visualization.dataset_browser import (AUTO_SCALE_SIZE,
                                                 browse_dataset)


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Render pipeline samples with their prompts and labels '
        'to PNG files.')
    parser.add_argument('config', help='mmdet / mmseg config file')
    parser.add_argument(
        '--output-dir', required=True, help='folder for the PNG files')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which dataloader\'s dataset to browse')
    parser.add_argument(
        '--num-samples', type=int, default=10, help='samples to render')
    parser.add_argument(
        '--seed', type=int, default=0, help='numpy seed of the pipeline')
    parser.add_argument(
        '--scale',
        type=int,
        default=0,
        help='integer zoom of the image (nearest neighbour); 0 enlarges '
        f'images smaller than {AUTO_SCALE_SIZE} px to about that size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Sequence[str] = None) -> List[str]:
    """Render ``--num-samples`` samples to ``--output-dir``.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        list[str]: Paths of the written PNG files.
    """
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return browse_dataset(cfg, args.output_dir, args.split, args.num_samples,
                          args.seed, args.scale)


if __name__ == '__main__':
    main()
