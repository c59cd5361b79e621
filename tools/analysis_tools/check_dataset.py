"""Check a data set before training: one line per finding, with its fix.

Nothing is dropped or changed; the exit status is 1 when a finding is an
error. Library: ``mmvlm.datasets.checks``.

Examples::

    # COCO json detection set (prompts: one per category, in id order;
    # default: the json's category names)
    python tools/analysis_tools/check_dataset.py det \\
        --ann data/cells/annotations/train.json --img-dir data/cells/images \\
        --prompts "cell nucleus"

    # segmentation: image folder + label-map folder (value k = class k)
    python tools/analysis_tools/check_dataset.py seg \\
        --img-dir data/cells/img_dir/train \\
        --ann-dir data/cells/ann_dir/train \\
        --classes "background. cell nucleus"

    # a config (hand-written or generated): its data section, palette and
    # pad size (mmvlm.apis.new_project.check_config)
    python tools/analysis_tools/check_dataset.py config my_config.py
"""
import argparse
import sys
from typing import Optional, Sequence


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check a detection (COCO json) or segmentation '
        '(image + label-map folders) data set before training.')
    sub = parser.add_subparsers(dest='task', required=True)
    det = sub.add_parser('det', help='COCO json detection set')
    det.add_argument('--ann', required=True, nargs='+',
                     help='COCO json file(s)')
    det.add_argument('--img-dir', required=True,
                     help='folder the json file names are relative to')
    det.add_argument('--prompts', default=None,
                     help='prompts separated by full stops, one per '
                     'category in id order (default: category names)')
    det.add_argument('--keep-empty', action='store_true',
                     help='images without annotations will be trained on '
                     '(filter_empty_gt=False)')
    seg = sub.add_parser('seg', help='image + label-map folders')
    seg.add_argument('--img-dir', required=True, help='image folder')
    seg.add_argument('--ann-dir', required=True, help='label-map folder')
    seg.add_argument('--classes', required=True,
                     help='class names separated by full stops, value 0 '
                     'first')
    seg.add_argument('--ignore-index', type=int, default=255)
    seg.add_argument('--seg-map-suffix', default='.png')
    conf = sub.add_parser(
        'config', help='a config: classes in its COCO json, palette '
        'length, pad size against the pipeline (check_config)')
    conf.add_argument('config', help='config file')
    for p in (det, seg):
        p.add_argument('--language-model', default=None,
                       help='also check that the prompts tokenise to known '
                       'tokens of this language model (alias or folder, '
                       'e.g. minilm)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.task == 'config':
        return check_config_file(args.config)
    from mmvlm.datasets.checks import (check_coco_detection,
                                       check_prompt_tokens,
                                       check_segmentation, coco_category_names,
                                       format_findings, has_errors, load_coco)
    from mmvlm.structures.vocabulary import split_prompts
    if args.task == 'det':
        prompts = (split_prompts(args.prompts)
                   if args.prompts is not None else None)
        findings = []
        for ann in args.ann:
            try:
                findings += check_coco_detection(
                    ann, args.img_dir, prompts,
                    filter_empty_gt=not args.keep_empty)
            except (ValueError, FileNotFoundError) as err:
                # not JSON / not a COCO json / missing: the message names
                # the file and the fix; no traceback
                message = str(err)
                raise SystemExit(message if ann in message else
                                 f'{ann}: {message}') from None
        if prompts is None:
            prompts = coco_category_names(load_coco(args.ann[0]))
    else:
        prompts = split_prompts(args.classes)
        findings = check_segmentation(
            args.img_dir, args.ann_dir, prompts,
            ignore_index=args.ignore_index,
            seg_map_suffix=args.seg_map_suffix)
    if args.language_model:
        from mmvlm.models.text_encoders.hf_loading import build_tokenizer
        tokenizer = build_tokenizer(None, name_or_path=args.language_model)
        findings += check_prompt_tokens(prompts, tokenizer,
                                        args.language_model)
    print(format_findings(findings))
    return 1 if has_errors(findings) else 0


def check_config_file(path: str) -> int:
    """Print the findings of ``check_config`` for a config file."""
    from mmengine.config import Config

    import mmvlm  # noqa: F401  (registers mmvlm for the config's imports)
    from mmvlm.apis.new_project import check_config
    from mmvlm.datasets.checks import format_findings, has_errors
    findings = check_config(Config.fromfile(path))
    print(format_findings(findings) if findings else
          f'{path}: no finding (data section, palette, pad size)')
    return 1 if has_errors(findings) else 0


if __name__ == '__main__':
    sys.exit(main())
