"""Deployment without PyTorch: ONNX export of language-guided detectors,
segmentors and text encoders (``onnx_export``), and the numpy runtime
(``runtime``) that the export folder carries as ``mmvlm_runtime.py``.

Importing this package imports torch (through ``mmvlm``); a deployed
process imports the runtime from the export folder instead.
"""
from .onnx_export import (RUNTIME_FILE, export_onnx, export_text_encoder,
                          export_text_encoder_folder, load_model)

__all__ = [
    'RUNTIME_FILE', 'export_onnx', 'export_text_encoder',
    'export_text_encoder_folder', 'load_model'
]
