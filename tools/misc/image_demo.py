"""Find what free-text prompts name in one image and write a labelled PNG:
boxes for a language-guided (or baked) detector, regions for a
language-guided segmentor (the codebase is read from the config).

Examples::

    python tools/misc/image_demo.py street.jpg \\
        configs/detection/lg-atss_r50_fpn_1x_coco.py --weights lg-atss.pth \\
        --prompts "a red car. a person with an umbrella" --out-file out.png

    # baked model (tools/model_converters/bake_vocabulary.py): fixed classes
    python tools/misc/image_demo.py street.jpg baked/baked.py \\
        --weights baked/baked.pth --out-file out.png

    python tools/misc/image_demo.py slice.png \\
        projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py \\
        --weights seg_lg.pth --prompts "background. left hippocampus"

    # the prompts file training used (tools/misc/new_project.py writes
    # it next to the configs): the same names, synonyms and templates
    python tools/misc/image_demo.py cells.png configs/cells/lg_cells.py \\
        --weights lg.pth --prompts-file configs/cells/prompts_cells.yaml

Without ``--weights`` the model's heads are untrained (random): the tool
refuses to draw their output unless ``--allow-untrained`` is given (a smoke
test of a config), and it uses the config's ``load_from`` when that names a
file (a baked config written by ``bake_vocabulary.py``).

Library: ``mmvlm.apis.LanguageGuidedDetInferencer`` /
``LanguageGuidedSegInferencer`` (also behind ``detect`` / ``segment``).
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

UNTRAINED = (
    'no --weights: the model would run with untrained (random) heads and '
    'draw confident-looking nonsense. Give the trained checkpoint with '
    '--weights (e.g. work_dirs/<name>/lg/iter_<N>.pth), or pass '
    '--allow-untrained to look at an untrained model (a smoke test).')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Language-guided detection / segmentation demo on one '
        'image.')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config of an LG or baked model')
    parser.add_argument(
        '--weights',
        help="checkpoint file (default: the config's load_from, if set)")
    parser.add_argument(
        '--allow-untrained', action='store_true',
        help='without --weights, run and draw the untrained model anyway '
        '(random heads: a smoke test, not predictions)')
    parser.add_argument(
        '--prompts',
        help='free-text prompts separated by full stops; default: the '
        "model's own vocabulary (a baked or LVIS-vocabulary config, the "
        'dataset classes)')
    parser.add_argument(
        '--prompts-file',
        help='a prompts file (.yaml / .yml / .json: names, synonyms and '
        'templates per class), e.g. the prompts_<name>.yaml that '
        'new_project.py wrote for training; not with --prompts')
    parser.add_argument('--out-file', default='demo.png', help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes below this score are not drawn')
    parser.add_argument('--max-boxes', type=int, default=30,
                        help='at most this many boxes are drawn (the '
                        'highest scores)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.prompts and args.prompts_file:
        parser.error('give --prompts or --prompts-file, not both')
    if args.prompts_file:
        from mmvlm.structures import is_prompts_file
        if not is_prompts_file(args.prompts_file):
            parser.error(f'--prompts-file {args.prompts_file!r} must end in '
                         '.yaml, .yml or .json')
        args.prompts = args.prompts_file
    return args


def weights_of(cfg, args: argparse.Namespace) -> Optional[str]:
    """The checkpoint to load: ``--weights``, else the config's existing
    ``load_from``, else None when ``--allow-untrained`` (else an error)."""
    if args.weights:
        return args.weights
    load_from = cfg.get('load_from')
    if load_from and osp.isfile(load_from):
        print(f'weights: {load_from} (the config\'s load_from)')
        return load_from
    if not args.allow_untrained:
        raise SystemExit(f'error: {UNTRAINED}')
    print('WARNING: --allow-untrained: the heads are untrained (random); '
          'what is drawn is not a prediction.', file=sys.stderr)
    return None


def build_model(init, cfg, weights: Optional[str], device: str):
    """``init(cfg, weights, device)`` with what to do when the config's
    initialisation needs a package that is not installed."""
    try:
        return init(cfg, weights, device)
    except ModuleNotFoundError as e:
        if weights is not None:
            raise
        raise SystemExit(
            f'error: initialising the untrained model needs {e.name!r} '
            f'({e}): the config initialises its backbone from pretrained '
            'weights (e.g. init_cfg=dict(type="Pretrained", checkpoint='
            '"torchvision://resnet50")). Give a trained checkpoint with '
            f'--weights (nothing is initialised then), or install it: '
            f'pip install {e.name}.') from e


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    import mmcv
    from mmengine.config import Config

    from mmvlm import apis
    from mmvlm.utils import infer_codebase
    cfg = Config.fromfile(args.config)
    weights = weights_of(cfg, args)
    if infer_codebase(cfg) == 'mmseg':
        model = build_model(apis.init_language_guided_segmentor, cfg,
                            weights, args.device)
        inferencer = apis.LanguageGuidedSegInferencer(model)
        out = inferencer(args.image, args.prompts, return_datasamples=True,
                         return_vis=True)
        result, names = out['predictions'][0], inferencer.classes
        labels = result.pred_sem_seg.data.flatten().bincount(
            minlength=len(names))
        present = [(names[k], int(n)) for k, n in enumerate(labels) if n]
        for name, pixels in present:
            print(f'{name}: {pixels} pixels')
        mmcv.imwrite(mmcv.rgb2bgr(out['visualization'][0]), args.out_file)
        print(f'{len(present)} regions drawn to {args.out_file}')
        return
    model = build_model(apis.init_language_guided_detector, cfg, weights,
                        args.device)
    inferencer = apis.LanguageGuidedDetInferencer(model)
    out = inferencer(args.image, args.prompts, return_datasamples=True,
                     return_vis=True, pred_score_thr=args.score_thr,
                     max_boxes=args.max_boxes)
    result, names = out['predictions'][0], inferencer.classes
    pred = result.pred_instances
    keep = pred.scores >= args.score_thr
    for label, score, box in zip(pred.labels[keep], pred.scores[keep],
                                 pred.bboxes[keep]):
        print(f'{names[int(label)]}: {float(score):.2f} '
              f'{[round(float(v), 1) for v in box]}')
    mmcv.imwrite(mmcv.rgb2bgr(out['visualization'][0]), args.out_file)
    drawn = min(int(keep.sum()), args.max_boxes)
    print(f'{int(keep.sum())} boxes above {args.score_thr}; the best '
          f'{drawn} drawn to {args.out_file}')


if __name__ == '__main__':
    main()
