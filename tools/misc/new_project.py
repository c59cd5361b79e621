"""Your own data in one command: check it, write a language-guided config
and its stock twin, print the two train commands.

The configs hold the demo's pretrained recipe (ImageNet EfficientNet-Lite0,
frozen MiniLM for the language-guided twin) whole, with what depends on the
data chosen from it. Library: ``mmvlm.apis.new_project``.

The schedule: ``--max-iters N`` (default: 10 epochs of the training
images, 100 to 1000 iterations); the estimated training time is printed.
Re-running (e.g. with another ``--max-iters``) never overwrites a file you
edited (the prompts file, a config): it is kept and the fresh version is
written beside it as ``<stem>.new<ext>``, with a warning.

Examples::

    # detection: COCO jsons (prompts optional: default category names)
    python tools/misc/new_project.py det --train data/cells/train.json \\
        --val data/cells/val.json --img-dir data/cells/images \\
        --prompts "cell nucleus" --out-dir configs/cells

    # segmentation: image + label-map folders (value k = class k)
    python tools/misc/new_project.py seg --img-dir data/cells/img/train \\
        --ann-dir data/cells/ann/train --val-img-dir data/cells/img/val \\
        --val-ann-dir data/cells/ann/val \\
        --classes "background. cell nucleus" \\
        --out-dir configs/cells_seg

    # names, synonyms and templates per class from a prompts file (its
    # names must be the json's categories / the label values' classes)
    python tools/misc/new_project.py det --train data/cells/train.json \\
        --val data/cells/val.json --img-dir data/cells/images \\
        --prompts my_prompts.yaml --out-dir configs/cells

    # held-out names: never trained on (pixels 255 / boxes dropped in
    # copies under <out-dir>/seen_labels), asked by the test split
    python tools/misc/new_project.py seg ... --held-out "right nucleus"

Next to the two configs it writes ``prompts_<name>.yaml``, the prompts
file both configs read and ``tools/misc/image_demo.py --prompts-file``
queries with. The language-guided config trains with negative prompts.

The data checks run first (tools/analysis_tools/check_dataset.py); on an
error nothing is written and the exit status is 1.
"""
import argparse
import sys
from typing import Optional, Sequence


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check your data and write a language-guided config '
        'and its stock twin.')
    parser.add_argument('task', choices=('det', 'seg'))
    parser.add_argument('--out-dir', required=True,
                        help='folder for the two configs')
    parser.add_argument('--name', default=None,
                        help='config name stem (default: the out-dir name)')
    parser.add_argument('--train', help='det: training COCO json')
    parser.add_argument('--val', help='det: validation COCO json')
    parser.add_argument('--img-dir', required=True,
                        help='det: folder of the json file names; seg: '
                        'training images')
    parser.add_argument('--val-img-dir', default=None,
                        help='validation images (det default: --img-dir)')
    parser.add_argument('--ann-dir', help='seg: training label maps')
    parser.add_argument('--val-ann-dir', help='seg: validation label maps')
    parser.add_argument('--classes', default=None,
                        help='seg: class names separated by full stops, '
                        'label value 0 first')
    parser.add_argument('--prompts', default=None,
                        help='one prompt per class, separated by full stops'
                        ' (default: the class names), or a prompts file '
                        '(.yaml / .yml / .json: names, synonyms and '
                        'templates per class)')
    parser.add_argument(
        '--max-iters', type=int, default=None,
        help='training iterations (default: 10 epochs of the training '
        'images, 100 to 1000); the time estimate is printed')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='default: min(4, number of training images)')
    parser.add_argument(
        '--held-out', nargs='+', default=None, metavar='NAME',
        help='class names never trained on (quote names with spaces): '
        'ignored in training, asked at test time')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from mmvlm.apis.new_project import DataCheckError, new_project
    from mmvlm.datasets.checks import format_findings
    try:
        project = new_project(
            args.task, args.out_dir, train=args.train, val=args.val,
            img_dir=args.img_dir, val_img_dir=args.val_img_dir,
            prompts=args.prompts, ann_dir=args.ann_dir,
            val_ann_dir=args.val_ann_dir, classes=args.classes,
            name=args.name, batch_size=args.batch_size,
            max_iters=args.max_iters, held_out=args.held_out)
    except DataCheckError as e:
        print(format_findings(e.findings))
        print('Nothing written: fix the errors above and run again.')
        return 1
    except ValueError as e:
        print(f'ERROR: {e}\nNothing written.')
        return 1
    print(format_findings(project.findings))
    s = project.settings
    print(f"classes {s['classes']} prompted as {s['prompts']}; image size "
          f"{s['image_size']}, batch {s['batch_size']}, "
          f"{s['max_iters']} iterations (--max-iters): "
          f"{s['time_estimate']}")
    if s['held_out']:
        print(f"held out (never trained on, asked at test time): "
              f"{s['held_out']}")
    print(f'wrote {project.lg_config}\n      {project.stock_config}\n'
          f'      {project.prompts_file} (the prompts both configs and '
          'image_demo.py --prompts-file read)')
    print('train the language-guided model and its stock twin (one after '
          'the other on a small machine, see docs/own_data.md "Threads"):')
    for command in project.commands[:2]:
        print('  ' + command)
    if len(project.commands) > 2:
        print('then score each held-out name alone:')
        print('  ' + project.commands[2])
    return 0


if __name__ == '__main__':
    sys.exit(main())
