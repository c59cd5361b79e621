"""The segmentation pairs of tools/benchmark/benchmark.py only.

Same options as benchmark.py (``--quick``, ``--json``, ``--device``,
``--threads``, ...); see docs/benchmarks.md::

    python tools/benchmark/benchmark_segmentation.py --quick --json seg.json
"""
import sys

from mmvlm.benchmarks.cli import main

if __name__ == '__main__':
    main(['--sections', 'segmentation', '--no-deployment'] + sys.argv[1:])
