"""Detect objects named by free-text prompts and write a PNG with labelled
boxes, from a language-guided checkpoint or a baked one.

Examples::

    python tools/demo/image_demo.py street.jpg \
        configs/detection/lg-atss_r50_fpn_1x_coco.py --weights lg-atss.pth \
        --prompts "a red car. a person with an umbrella" --out-file out.png

    # baked model (tools/bake_vocabulary.py): its vocabulary is fixed
    python tools/demo/image_demo.py street.jpg baked/baked.py \
        --weights baked/baked.pth --out-file out.png
"""
import argparse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Language-guided detection demo on one image.')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config of an LG or baked model')
    parser.add_argument('--weights', help='checkpoint file')
    parser.add_argument(
        '--prompts',
        help='free-text prompts separated by full stops; default: the '
        "model's own vocabulary (a baked or LVIS-vocabulary config)")
    parser.add_argument('--out-file', default='demo.png', help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes below this score are not drawn')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmvlm.apis import detect_and_draw, init_language_guided_detector
    model = init_language_guided_detector(args.config, args.weights,
                                          args.device)
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
