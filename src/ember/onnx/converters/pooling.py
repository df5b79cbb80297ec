"""Pooling: max (MaxPool), average (AveragePool, rescaled to PyTorch's divisor) and adaptive average
(``SeparableMap``: the (Ho, H) and (Wo, W) averaging matrices applied by two MatMuls, exact for any bins).

Ember's pool geometry already holds the padding that ``ceil_mode`` windows reach past the input, so ONNX gets
explicit pads and ``ceil_mode=0``.
"""
from __future__ import annotations

import numpy as np

from ...functions import pooling as ops
from . import converts


def _pads(geometry) -> list[int]:
    (top, bottom), (left, right) = geometry.padding
    return [top, left, bottom, right]


@converts(ops.MaxPool2d)
def max_pool2d(node, graph):
    geometry = node.op.geometry
    y = graph.add("MaxPool", graph.inputs(node), kernel_shape=list(geometry.kernel_size),
                  strides=list(geometry.stride), dilations=list(geometry.dilation), pads=_pads(geometry))
    if node.op.return_indices:
        graph.unavailable[id(node.outputs[1])] = (
            f"ember.onnx.export: MaxPool2d in module '{node.module_path}': return_indices gives indices within "
            "each (H, W) plane; ONNX's MaxPool indexes the whole tensor, so the indices are not exported")
        return [y, None]
    return y


@converts(ops.AvgPool2d)
def avg_pool2d(node, graph):
    """AveragePool counting padding (divides by kh*kw everywhere), times ``kh*kw / divisor``."""
    geometry = node.op.geometry
    y = graph.add("AveragePool", graph.inputs(node), kernel_shape=list(geometry.kernel_size),
                  strides=list(geometry.stride), pads=_pads(geometry), count_include_pad=1)
    window = geometry.kernel_size[0] * geometry.kernel_size[1]
    divisor = np.asarray(node.op.divisor)
    if divisor.ndim == 0 and float(divisor) == window:
        return y
    dtype = node.outputs[0].array.dtype
    return graph.add("Mul", [y, graph.constant((window / divisor.astype(np.float64)).astype(dtype))])


@converts(ops.SeparableMap)
def separable_map(node, graph):
    """``rows @ x @ columns.T`` with rows (Ho, H), x (N, C, H, W), columns (Wo, W)."""
    (x,) = graph.inputs(node)
    rows = graph.constant(np.asarray(node.op.rows))
    columns_t = graph.constant(np.ascontiguousarray(np.asarray(node.op.columns).T))
    return graph.add("MatMul", [graph.add("MatMul", [rows, x]), columns_t])
