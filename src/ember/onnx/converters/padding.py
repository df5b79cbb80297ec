"""Padding that repeats the input (``F.pad`` modes reflect, replicate, circular; ``PadRepeat``): ONNX Pad in
mode ``reflect``, ``edge`` or (from opset 19) ``wrap``; below opset 19 circular padding is Slice and Concat
along each padded axis (Ember's circular pads never exceed the axis length, as in PyTorch)."""
from __future__ import annotations

import numpy as np

from ...functions import padding as ops
from . import converts

_INT64_MAX = np.iinfo(np.int64).max
WRAP_OPSET = 19  # Pad's mode "wrap"
_ONNX_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@converts(ops.PadRepeat)
def pad_repeat(node, graph):
    (x,) = graph.inputs(node)
    widths = node.op.widths
    if node.op.mode != "circular" or graph.opset >= WRAP_OPSET:
        pads = [int(before) for before, _ in widths] + [int(after) for _, after in widths]
        return graph.add("Pad", [x, graph.ints(pads)], mode=_ONNX_MODES[node.op.mode])
    shape = node.inputs[0].array.shape
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        size = shape[axis]
        if before > size or after > size:
            raise graph.unsupported(f"circular padding {(before, after)} of axis {axis} exceeds its size {size} "
                                    f"(input shape {shape})")
        parts = []
        if before:  # the last ``before`` entries go in front
            parts.append(graph.add("Slice", [x, graph.ints([-before]), graph.ints([_INT64_MAX]), graph.ints([axis])]))
        parts.append(x)
        if after:  # the first ``after`` entries go behind
            parts.append(graph.add("Slice", [x, graph.ints([0]), graph.ints([after]), graph.ints([axis])]))
        x = graph.add("Concat", parts, axis=axis)
    return x
