"""Convert raw Kvasir-SEG / ISIC-2018 downloads to the mmseg medical layout.

Usage::

    python tools/dataset_converters/prepare_medical_dataset.py kvasir_seg \\
        RAW_DIR OUT_DIR
    python tools/dataset_converters/prepare_medical_dataset.py \\
        isic2018_task1 RAW_DIR OUT_DIR

The output is ``OUT_DIR/images/{train,val}/*.png`` and
``OUT_DIR/masks/{train,val}/*.png`` with masks 0 (background) /
1 (foreground). Library: ``mmvlm.datasets.medical.prepare_medical_dataset``.
"""
import argparse
import os.path as osp


def main(argv=None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', choices=['kvasir_seg', 'isic2018_task1'])
    parser.add_argument('raw_root', help='unzipped download')
    parser.add_argument('out_root', help='output data root')
    parser.add_argument('--val-ratio',
                        type=float,
                        default=0.2,
                        help='validation share (kvasir_seg)')
    args = parser.parse_args(argv)
    from mmvlm.datasets.medical import (prepare_isic2018_task1,
                                        prepare_kvasir_seg)
    if args.dataset == 'kvasir_seg':
        counts = prepare_kvasir_seg(args.raw_root, args.out_root,
                                    args.val_ratio)
    else:
        counts = prepare_isic2018_task1(args.raw_root, args.out_root)
    print(f'wrote {counts} to {osp.abspath(args.out_root)}')


if __name__ == '__main__':
    main()
