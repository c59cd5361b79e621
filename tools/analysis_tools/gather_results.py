"""Gather evaluation results of work dirs into one markdown table.

Example::

    python tools/analysis_tools/gather_results.py work_dirs/* --out results.md

Library: ``mmvlm.evaluation.results_table``.
"""
import argparse


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Markdown table of the eval json files of work dirs.')
    parser.add_argument('work_dirs', nargs='+', help='work directories')
    parser.add_argument('--out', help='write the table to this file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmvlm.evaluation.results_table import (gather_results,
                                                results_to_markdown)
    rows = gather_results(args.work_dirs)
    if not rows:
        raise SystemExit('No evaluation json found in '
                         f'{args.work_dirs}; run tools/test.py with '
                         '--work-dir first.')
    table = results_to_markdown(rows)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table)
    print(table, end='')


if __name__ == '__main__':
    main()
