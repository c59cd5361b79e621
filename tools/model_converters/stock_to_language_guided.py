"""Convert a stock mmdet / mmseg checkpoint into a language-guided one.

Builds the language-guided model of CONFIG, loads the stock checkpoint
(the stock neck's keys move into ``LLMPrefixNeck``; the replaced class
layer is not loaded as it is), warm starts the contrastive classifiers from
the stock class layer on the stock class names, saves OUT and prints what
was mapped. Library: ``mmvlm.apis.stock_checkpoint``.

Example::

    python tools/model_converters/stock_to_language_guided.py \\
        configs/detection/lg-atss_r50_fpn_1x_coco.py \\
        atss_r50_fpn_1x_coco.pth lg-atss_from_stock.pth \\
        --cfg-options model.bbox_head.classifier.kernel_size=3

Without ``--classes`` the class names come from the checkpoint's
``meta.dataset_meta``, else the config's dataset. A language-guided model
also loads a stock checkpoint directly (``load_from``); see
``docs/stock_checkpoints.md``.
"""
import argparse
from typing import Optional, Sequence

from mmengine.config import DictAction


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a stock mmdet / mmseg checkpoint into a '
        'language-guided checkpoint, warm starting the classifier.')
    parser.add_argument('config', help='config of the language-guided model')
    parser.add_argument('checkpoint', help='the stock checkpoint')
    parser.add_argument('out', help='path of the checkpoint to write')
    parser.add_argument(
        '--classes',
        nargs='+',
        help='the stock model\'s class names in class order, or one '
        'dataset name (CocoDataset); default: the checkpoint meta, else the '
        'config\'s dataset')
    parser.add_argument(
        '--no-warm-start',
        action='store_true',
        help='leave the contrastive classifiers at their initialisation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='key=value overrides of the config (as in tools/train.py)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from mmvlm.apis.stock_checkpoint import (format_report,
                                             stock_to_language_guided)
    classes = args.classes
    if classes is not None and len(classes) == 1:
        classes = classes[0] if classes[0].endswith('Dataset') else classes
    try:
        report = stock_to_language_guided(args.config, args.checkpoint,
                                          args.out, classes,
                                          not args.no_warm_start,
                                          args.cfg_options)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(str(e))
    print(format_report(report))
    print(f'saved {args.out}')


if __name__ == '__main__':
    main()
