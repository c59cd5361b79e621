"""NIfTI image volume(s) + a label volume + a names table -> an mmseg 2-D
dataset that ``tools/misc/new_project.py seg`` takes directly.

The label volume may lie on another grid than the image (an atlas in
template space at 1 mm against a T1 at 1 mm with another field of view):
it is resampled onto the image grid through the two affines (nearest
neighbour), and grids that do not overlap are an error naming both
affines. The image is reoriented to canonical RAS+ axes, so ``--axis``
means what it says; ``meta.json`` states how the slices are laid out.
Library: ``mmvlm.datasets.medical.volume_slices``.

Examples::

    # a T1 MRI and a white-matter atlas, two tract names held out
    python tools/dataset_converters/volume_to_mmseg.py \\
        --image t1.nii.gz --labels atlas.nii.gz --names atlas_names.txt \\
        --out-dir data/tracts --axis axial \\
        --held-out "Cingulum_L" "Cingulum_R"

    # CT in Hounsfield units: a soft-tissue window, chosen slices
    python tools/dataset_converters/volume_to_mmseg.py --image ct.nii.gz \\
        --labels organs.nii.gz --names organs.txt --out-dir data/ct \\
        --window -160 240 --slices 40 120

The names table has one ``<value> <name>`` per line (value 0 is
``background`` unless named; ``#`` comments) or is a JSON object. Slices
with a labelled voxel are kept (``--slices FIRST LAST`` to choose); the
test split is ``--test-blocks`` blocks spread over them
(``--test-fraction`` of the slices) with ``--gap`` slices dropped on each
side of each, so no test slice neighbours a training slice.
Held-out names are 255 (ignored) in the training label maps and kept in
the test ones. The new_project.py command is printed.
"""
import argparse
import sys
from typing import Optional, Sequence


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='NIfTI image + label volumes -> mmseg 2-D slices')
    parser.add_argument('--image', nargs='+', required=True,
                        help='image volume(s) on one grid (1: grey; 2-3: '
                        'channels of an RGB slice)')
    parser.add_argument('--labels', required=True, help='label volume')
    parser.add_argument('--names', required=True,
                        help='names table: "<value> <name>" per line, or '
                        'JSON {"value": "name"}')
    parser.add_argument('--out-dir', required=True, help='dataset root')
    parser.add_argument('--axis', default='axial',
                        choices=('axial', 'coronal', 'sagittal'))
    parser.add_argument('--slices', nargs=2, type=int, default=None,
                        metavar=('FIRST', 'LAST'),
                        help='slice range along --axis (default: the slices '
                        'with a labelled voxel)')
    parser.add_argument('--window', nargs=2, type=float, default=None,
                        metavar=('LOW', 'HIGH'),
                        help='intensity window (default: percentiles '
                        '0.5-99.5 of the non-zero voxels)')
    parser.add_argument('--test-fraction', type=float, default=0.2)
    parser.add_argument('--gap', type=int, default=2,
                        help='slices dropped on each side of a test block')
    parser.add_argument('--test-blocks', type=int, default=3,
                        help='test blocks spread over the slices')
    parser.add_argument('--held-out', nargs='+', default=(), metavar='NAME',
                        help='names ignored (255) in the training label maps')
    parser.add_argument('--unlisted', default='error',
                        choices=('error', 'background', 'ignore'),
                        help='label values the names table does not name')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from mmvlm.datasets.medical.volume_slices import volumes_to_mmseg
    try:
        dataset = volumes_to_mmseg(
            args.image, args.labels, args.names, args.out_dir,
            axis=args.axis, slices=args.slices, window=args.window,
            test_fraction=args.test_fraction, gap=args.gap,
            test_blocks=args.test_blocks,
            held_out=args.held_out, unlisted=args.unlisted)
    except (ValueError, ImportError) as e:
        print(f'ERROR: {e}', file=sys.stderr)
        return 1
    for warning in dataset.warnings:
        print(f'WARNING: {warning}')
    meta = dataset.meta
    print(f"{len(dataset.classes)} classes {dataset.classes}; "
          f"{args.axis} slices {meta['slices']['first']}-"
          f"{meta['slices']['last']}: {len(dataset.train_slices)} train, "
          f"{len(dataset.test_slices)} test (gap {args.gap}); label volume "
          f"{meta['orientation']['label_resampling']}")
    print(f'wrote {dataset.out_dir}/{{img_dir,ann_dir}}/{{train,test}}, '
          'prompts.yaml, meta.json')
    print('check the training split:\n  ' + dataset.check_command())
    print('next:\n  ' + dataset.new_project_command())
    return 0


if __name__ == '__main__':
    sys.exit(main())
