"""The web demo of mmvlm: a Gradio page on the public API (``mmvlm.apis``,
``mmvlm.deployment``) where one types words and sees boxes, masks and
heat-maps. ``bash tools/run_web_demo.sh`` starts it; see
``projects/web_demo/README.md``."""
