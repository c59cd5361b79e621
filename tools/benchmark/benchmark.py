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
to leave it). The deployment benchmark measures the demo-size models of
projects/demo/configs unless ``--deployment-config CONFIG HxW`` names
others.
"""
import os.path as osp

from mmvlm.benchmarks.cli import main

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: The deployment benchmark's default models: (name, config, image (H, W)).
DEMO_MODELS = (
    ('demo LG-ATSS R18 (trees)',
     osp.join(ROOT, 'projects/demo/configs/lg-atss_r18-tiny_minilm_trees.py'),
     (400, 400)),
    ('demo LG-FPN R18 (brain)',
     osp.join(ROOT, 'projects/demo/configs/lg-fpn_r18-tiny_minilm_brain.py'),
     (217, 181)),
)
#: Its text encoder row: MiniLM + prefix + projection on the brain names.
TEXT_ENCODER_CONFIG = DEMO_MODELS[1][1]

if __name__ == '__main__':
    main(deployment_models=DEMO_MODELS,
         text_encoder_config=TEXT_ENCODER_CONFIG)
