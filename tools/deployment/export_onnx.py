"""Export a language-guided (or baked) detector / segmentor to ONNX.

The export folder holds the ``.onnx`` graph(s), ``meta.json`` and
``mmvlm_runtime.py`` (numpy pre- and post-processing); run it without
PyTorch with ``tools/deployment/run_onnx.py``. Library:
``mmvlm.deployment``; ``docs/deployment.md`` lists what is supported.

Examples::

    # vocabulary baked in (bakes first, with the equivalence check)
    python tools/deployment/export_onnx.py \\
        projects/demo/configs/lg-atss_r18-tiny_minilm_trees.py \\
        work_dirs/demo/det_lg/iter_300.pth --out-dir work_dirs/onnx/trees \\
        --check-image data/demo/trees/images/<tile>.png
    # class embeddings as an input + the text encoder (new vocabularies)
    python tools/deployment/export_onnx.py CONFIG CHECKPOINT \\
        --out-dir work_dirs/onnx/trees-text --mode text
"""
import argparse
import json
from typing import Optional, Sequence

from mmengine.config import DictAction


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a language-guided detector / segmentor to ONNX '
        '(raw head outputs; numpy post-processing beside it).')
    parser.add_argument('config', help='config of the model (LG or baked)')
    parser.add_argument('checkpoint', help='its checkpoint (or "none")')
    parser.add_argument('--out-dir', required=True, help='export folder')
    parser.add_argument(
        '--mode',
        choices=('baked', 'text'),
        default='baked',
        help='baked: vocabulary folded into the graph; text: class '
        'embeddings are an input and the text encoder is exported too')
    parser.add_argument(
        '--vocabulary',
        help='prompts separated by full stops ("a cat. a dog"); default: '
        'the model\'s vocabulary / dataset classes')
    parser.add_argument('--atol',
                        type=float,
                        default=1e-4,
                        help='tolerance of the baking and ONNX checks')
    parser.add_argument(
        '--check-image',
        help='compare the export with mmdet / mmseg on this image')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='key=value overrides of the config (as in tools/train.py)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    from mmvlm.deployment import export_onnx, load_model
    try:
        model, task = load_model(args.config, args.checkpoint,
                                 args.cfg_options)
        meta = export_onnx(args.config,
                           args.out_dir,
                           args.checkpoint,
                           args.mode,
                           args.vocabulary,
                           atol=args.atol,
                           model=model)
    except (ValueError, RuntimeError, NotImplementedError) as e:
        raise SystemExit(str(e))
    print(f'exported {task} ({args.mode}) to {args.out_dir}: ' +
          ', '.join(f'{k} {v / 2**20:.1f} MiB' if v >= 2**20 else
                    f'{k} {v / 2**10:.0f} KiB'
                    for k, v in meta['files'].items()) +
          f'; ONNX vs PyTorch raw outputs: '
          f'{meta["onnx_check"]["max_rel_diff"]:.1e} (relative)')
    if args.check_image:
        from mmvlm.deployment import parity
        image = parity.load_runtime(args.out_dir).read_image(args.check_image)
        check = (parity.detection_parity
                 if task == 'detection' else parity.segmentation_parity)
        report = check(model, args.out_dir, image)
        print('parity with PyTorch:', json.dumps(report))
        if not report['ok']:
            raise SystemExit('The export differs from PyTorch beyond the '
                             'stated tolerance (docs/deployment.md).')


if __name__ == '__main__':
    main()
