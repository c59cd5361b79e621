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

Library: ``mmvlm.apis`` (``detect_and_draw``, ``segment_and_draw``).
"""
import argparse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Language-guided detection / segmentation demo on one '
        'image.')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config of an LG or baked model')
    parser.add_argument('--weights', help='checkpoint file')
    parser.add_argument(
        '--prompts',
        help='free-text prompts separated by full stops; default: the '
        "model's own vocabulary (a baked or LVIS-vocabulary config, the "
        'dataset classes)')
    parser.add_argument('--out-file', default='demo.png', help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes below this score are not drawn')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmengine.config import Config

    from mmvlm.utils import infer_codebase
    cfg = Config.fromfile(args.config)
    if infer_codebase(cfg) == 'mmseg':
        from mmvlm.apis import (init_language_guided_segmentor,
                                segment_and_draw)
        model = init_language_guided_segmentor(cfg, args.weights, args.device)
        result, names = segment_and_draw(model, args.image, args.prompts,
                                         args.out_file)
        labels = result.pred_sem_seg.data.flatten().bincount(
            minlength=len(names))
        present = [(names[k], int(n)) for k, n in enumerate(labels) if n]
        for name, pixels in present:
            print(f'{name}: {pixels} pixels')
        print(f'{len(present)} regions drawn to {args.out_file}')
        return
    from mmvlm.apis import detect_and_draw, init_language_guided_detector
    model = init_language_guided_detector(cfg, args.weights, args.device)
    result, names = detect_and_draw(model, args.image, args.prompts,
                                    args.out_file, args.score_thr)
    pred = result.pred_instances
    keep = pred.scores >= args.score_thr
    for label, score, box in zip(pred.labels[keep], pred.scores[keep],
                                 pred.bboxes[keep]):
        print(f'{names[int(label)]}: {float(score):.2f} '
              f'{[round(float(v), 1) for v in box]}')
    print(f'{int(keep.sum())} boxes above {args.score_thr} drawn to '
          f'{args.out_file}')


if __name__ == '__main__':
    main()
