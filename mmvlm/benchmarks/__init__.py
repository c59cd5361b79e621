"""Benchmarks of mmvlm against the stock heads, GLIP and Grounding-DINO.

``tools/benchmark/benchmark.py`` is the command line; :func:`run_benchmark`
(:mod:`mmvlm.benchmarks.runner`) measures every pair in one
process and returns the JSON keys of ``docs/benchmarks.md``. Importing this
package imports nothing heavy.
"""
