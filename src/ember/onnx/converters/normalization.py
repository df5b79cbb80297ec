"""Normalization. Batch norm in evaluation runs as Ember computes it from the running statistics,
``x * scale + shift`` with per-channel constants folded at export (Mul and Add nodes); layer norm (and group
norm, a layer norm over (N, groups, -1), then its per-channel Mul and Add) as LayerNormalization, which needs
opset 17."""
from __future__ import annotations

import numpy as np

from ...functions import normalization as ops
from . import converts


@converts(ops.LayerNorm)
def layer_norm(node, graph):
    if graph.opset < 17:
        raise graph.unsupported(f"LayerNormalization needs opset 17 or later, the export asked for {graph.opset}")
    op = node.op
    names = graph.inputs(node)
    x, affine = names[0], names[1:]
    normalized_shape = node.inputs[0].array.shape[-op.num_axes:]
    dtype = node.inputs[0].array.dtype
    scale = affine.pop(0) if op.has_weight else graph.constant(np.ones(normalized_shape, dtype=dtype))
    bias = affine.pop(0) if op.has_bias else ""
    outputs = graph.add("LayerNormalization", [x, scale, bias] if bias else [x, scale], axis=-op.num_axes,
                        epsilon=float(op.eps))
    return outputs


@converts(ops.GroupNorm)
def group_norm(node, graph):
    """A LayerNormalization over (N, groups, -1), reshaped back to the input's shape, then the per-channel
    weight (Mul) and bias (Add)."""
    names = graph.inputs(node)
    return _group_norm(node.op, graph, names[0], names[1:], node.inputs[0].array)


def _group_norm(op, graph, x: str, affine: list, array):
    """``group_norm``'s nodes for the input named ``x`` (shaped as ``array``) and the weight and bias names in
    ``affine``."""
    if graph.opset < 17:
        raise graph.unsupported(f"LayerNormalization needs opset 17 or later, the export asked for {graph.opset}")
    grouped = graph.add("Reshape", [x, graph.ints([0, op.groups, -1])])
    scale = graph.constant(np.ones(array[0].size // op.groups, dtype=array.dtype))
    normalized = graph.add("LayerNormalization", [grouped, scale], axis=-1, epsilon=float(op.eps))
    y = graph.add("Reshape", [normalized, graph.add("Shape", [x])])
    per_channel = graph.ints([array.shape[1]] + [1] * (array.ndim - 2))
    if op.has_weight:
        y = graph.add("Mul", [y, graph.add("Reshape", [affine.pop(0), per_channel])])
    if op.has_bias:
        y = graph.add("Add", [y, graph.add("Reshape", [affine.pop(0), per_channel])])
    return y


@converts(ops.BatchNorm)
def batch_norm(node, graph):
    raise graph.unsupported(
        "batch norm with the batch's own statistics (training mode, or track_running_stats=False) has no "
        "inference form; export in eval() with running statistics")


@converts(ops.GroupNormSiLU)
def group_norm_silu(node, graph):
    """The shift (N, C), if any, reshaped to (N, C, 1, ...) and added to the input (Add), then group norm as
    ``group_norm`` converts it, then SiLU: ``y * Sigmoid(y)``."""
    op = node.op
    names = graph.inputs(node)
    x, affine = names[0], names[1:]
    array = node.inputs[0].array
    if op.has_shift:
        per_sample_channel = graph.ints([0, 0] + [1] * (array.ndim - 2))  # 0: the dimension as it is
        x = graph.add("Add", [x, graph.add("Reshape", [affine.pop(), per_sample_channel])])
    y = _group_norm(op, graph, x, affine, array)
    return graph.add("Mul", [y, graph.add("Sigmoid", [y])])
