"""Bake a fixed vocabulary into a language-guided detector or segmentor
(drop the LM).

The baked, language-model-free model runs with the stock mmdet / mmseg
tools (``tools/test.py baked/baked.py baked/baked.pth``); its boxes and
scores (detectors) or logits (segmentors: mmseg's ``EncoderDecoder`` around
the baked decode head) equal those of the language-guided model on that
vocabulary (checked before saving). Library: ``mmvlm.apis.bake_vocabulary``.

Example::

    python tools/model_converters/bake_vocabulary.py \\
        configs/detection/lg-atss_r50_fpn_1x_coco.py \\
        work_dirs/lg-atss/epoch_12.pth --out-dir work_dirs/lg-atss-baked \\
        --vocabulary "a red car. a person with an umbrella"

Without ``--vocabulary`` the checkpoint's dataset classes are baked, with
their label ids, so ``tools/test.py`` evaluates the baked model directly.
"""
import argparse
from typing import Optional, Sequence

from mmengine.config import DictAction


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fold a fixed vocabulary into a language-guided detector '
        'or segmentor and drop its language model.')
    parser.add_argument('config', help='config of the language-guided model')
    parser.add_argument('checkpoint', help='its checkpoint (or "none")')
    parser.add_argument('--out-dir', required=True,
                        help='folder for baked.py and baked.pth')
    parser.add_argument(
        '--vocabulary',
        help='prompts separated by full stops ("a cat. a dog"); default: '
        'the dataset classes of the checkpoint / config')
    parser.add_argument('--atol', type=float, default=1e-5,
                        help='tolerance of the equivalence check')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='key=value overrides of the config (as in tools/train.py)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from mmvlm.apis.bake_vocabulary import bake_checkpoint
    try:
        bake_checkpoint(args.config, args.checkpoint, args.out_dir,
                        args.vocabulary, args.atol, args.cfg_options)
    except (ValueError, RuntimeError) as e:
        raise SystemExit(str(e))


if __name__ == '__main__':
    main()
