"""Benchmarks of mmvlm components (speed claims live here, never in timed
tests)."""
