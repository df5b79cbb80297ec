"""Shape ops: reshape/view/flatten/(un)squeeze (Reshape), permute/transpose (Transpose), cat (Concat),
split/chunk (Split), stack (Unsqueeze + Concat), pad (Pad), flip (Slice with step -1), repeat/tile (Tile),
broadcast_to/expand (Expand).

A shape recorded in a trace holds the traced batch size. Where an export has dynamic axes, the model is traced
twice at different sizes (see ``ember.onnx.export``), and the one entry of a target shape that differs
between the traces becomes -1 (ONNX infers it); ``dynamic_shape`` does that.
"""
from __future__ import annotations

import numpy as np

from ...autograd.broadcast import BroadcastTo
from ...functions import shape as ops
from . import converts

_INT64_MAX = np.iinfo(np.int64).max


def dynamic_shape(node, graph, output_index: int = 0) -> list[int]:
    """The traced output shape, with -1 for the one axis whose size changed between the two traces."""
    shape = list(node.outputs[output_index].array.shape)
    if node.alternate is None:
        return shape
    other = node.alternate.outputs[output_index].array.shape
    changed = [axis for axis, (a, b) in enumerate(zip(shape, other)) if a != b]
    if len(changed) > 1:
        raise graph.unsupported(
            f"its output shape {tuple(shape)} has {len(changed)} axes that follow dynamic input sizes "
            f"({tuple(other)} at the other traced size); at most one can be inferred by ONNX Reshape")
    for axis in changed:
        shape[axis] = -1
    return shape


@converts(ops.Reshape)
def reshape(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Reshape", [x, graph.ints(dynamic_shape(node, graph))])


@converts(BroadcastTo)
def broadcast_to(node, graph):
    """Expand to the traced shape; an axis that follows a dynamic size keeps the input's (1 expands to it)."""
    (x,) = graph.inputs(node)
    shape = [1 if size == -1 else size for size in dynamic_shape(node, graph)]
    return graph.add("Expand", [x, graph.ints(shape)])


@converts(ops.Permute)
def permute(node, graph):
    return graph.add("Transpose", graph.inputs(node), perm=[int(a) for a in node.op.axes])


@converts(ops.Concatenate)
def concatenate(node, graph):
    return graph.add("Concat", graph.inputs(node), axis=int(node.op.axis))


@converts(ops.Stack)
def stack(node, graph):
    axis = graph.ints([node.op.axis])
    parts = [graph.add("Unsqueeze", [name, axis]) for name in graph.inputs(node)]
    return graph.add("Concat", parts, axis=int(node.op.axis))


@converts(ops.SplitAt)
def split_at(node, graph):
    (x,) = graph.inputs(node)
    sizes = [value.array.shape[node.op.axis] for value in node.outputs]
    return graph.add("Split", [x, graph.ints(sizes)], outputs=len(sizes), axis=int(node.op.axis))


@converts(ops.Pad)
def pad(node, graph):
    (x,) = graph.inputs(node)
    widths = node.op.widths
    pads = [int(before) for before, _ in widths] + [int(after) for _, after in widths]
    value = np.asarray(node.op.value, dtype=node.outputs[0].array.dtype)
    return graph.add("Pad", [x, graph.ints(pads), graph.constant(value)], mode="constant")


@converts(ops.Flip)
def flip(node, graph):
    (x,) = graph.inputs(node)
    ndim = node.inputs[0].array.ndim
    axes = node.op.axes
    axes = list(range(ndim)) if axes is None else [int(a) % ndim for a in np.atleast_1d(axes)]
    count = len(axes)
    return graph.add("Slice", [x, graph.ints([-1] * count), graph.ints([-_INT64_MAX] * count), graph.ints(axes),
                               graph.ints([-1] * count)])


@converts(ops.Tile)
def tile(node, graph):
    (x,) = graph.inputs(node)
    reps = list(node.op.reps)
    ndim = node.inputs[0].array.ndim
    if len(reps) > ndim:  # np.tile prepends axes of size 1 to the input
        x = graph.add("Unsqueeze", [x, graph.ints(range(len(reps) - ndim))])
    else:
        reps = [1] * (ndim - len(reps)) + reps
    return graph.add("Tile", [x, graph.ints(reps)])
