"""Benchmark mmvlm against the stock heads, GLIP and Grounding-DINO.

Every pair of docs/benchmarks.md in one run, on the device present (CPU
here, CUDA when a GPU exists), the two sides of each pair interleaved, the
median of 5 timed runs after a warm-up::

    python tools/benchmark/benchmark.py --quick --json out.json   # minutes
    python tools/benchmark/benchmark.py --json bench.json          # the doc

The GLIP / Grounding-DINO side runs in the reference environment
(``bash tools/env/setup_reference_env.sh``); without it those keys are
null with a message, and the run still succeeds. A full run regenerates
the tables of docs/benchmarks.md (``--doc`` for another page, ``--no-doc``
to leave it).
"""
from mmvlm.benchmarks.cli import main

if __name__ == '__main__':
    main()
