"""Export to ONNX: ``ember.onnx.export(model, args, "model.onnx")`` (PyTorch's spelling) and
``keras_model.export("model.onnx", format="onnx")`` (Keras 3's).

The model runs once on example inputs while a tracer records every op it executes; each op maps to ONNX nodes
through the converter table in ``ember.onnx.converters`` (one module per family of ops). Importing
``ember.onnx`` does not import the ``onnx`` package; exporting needs it (``pip install "ember[onnx]"``).
Coverage and deviations: docs/onnx.md.
"""
from __future__ import annotations

from ._export import DEFAULT_OPSET, build_model, export, export_to_bytes, import_onnx
from ._graph import UnsupportedOpError

__all__ = ["export", "export_to_bytes", "build_model", "UnsupportedOpError", "DEFAULT_OPSET", "import_onnx"]
