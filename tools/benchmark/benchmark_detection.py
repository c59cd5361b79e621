"""The detection pairs of tools/benchmark/benchmark.py only.

Same options as benchmark.py (``--quick``, ``--json``, ``--device``,
``--threads``, ``--no-reference``, ...); see docs/benchmarks.md::

    python tools/benchmark/benchmark_detection.py --quick --json det.json
"""
import sys

from mmvlm.benchmarks.cli import main

if __name__ == '__main__':
    main(['--sections', 'detection', '--no-deployment'] + sys.argv[1:])
