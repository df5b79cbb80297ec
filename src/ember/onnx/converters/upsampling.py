"""Resampling (``F.interpolate``, ``nn.Upsample``, Keras ``UpSampling2D``): each ``Resample`` (one spatial axis)
as one ONNX Resize of that axis, with the coordinate transformation and rounding of the PyTorch mode:

* nearest (PyTorch's legacy ``floor(i * in/out)``): ``asymmetric`` coordinates, ``nearest_mode="floor"``;
* nearest-exact (``floor((i + 0.5) * in/out)``): ``half_pixel``, ``nearest_mode="round_prefer_ceil"``;
* linear, align_corners=False (half-pixel centres clamped at 0): ``half_pixel``, ``mode="linear"``;
* linear, align_corners=True: ``align_corners``, ``mode="linear"``.

Consecutive Resamples of other axes in the same mode (bilinear's two, nearest's two) become one Resize of
the first one's source: the earlier Resize is left without consumers, and removed from the graph.

A resampled axis that follows a dynamic input size (``dynamic_axes`` on a spatial axis) gets Resize's
``scales`` instead, where the output is the input times one factor in both traces (a whole or binary-fraction
``scale_factor``); a fixed ``size`` stays a fixed size; other cases are refused.

Resize gets the output size (``sizes``, the input's shape with the resampled axis replaced), so ONNX derives its
scale as out/in. That is the scale Ember used unless ``interpolate`` was called with a ``scale_factor`` whose
product with the input size is not a whole number (and ``recompute_scale_factor`` off); then, or whenever
onnxruntime's float32 formula would pick other source positions than Ember did, the axis is exported as
Gather of Ember's own source indices (and, for linear modes, the weighted sum of the two gathers).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...functions import upsampling as ops
from ...functions.upsampling import _linear_indices, _nearest_indices
from . import converts

_INT64_MAX = np.iinfo(np.int64).max


def _onnx_nearest(n_in: int, n_out: int, exact: bool) -> np.ndarray:
    """The source indices onnxruntime's Resize computes in float32 for output size ``n_out``."""
    scale = np.float32(n_out) / np.float32(n_in)
    positions = np.arange(n_out, dtype=np.float32)
    if exact:  # half_pixel coordinates, rounded half up
        source = (positions + np.float32(0.5)) / scale - np.float32(0.5)
        index = np.floor(source + np.float32(0.5))
    else:  # asymmetric coordinates, floor
        index = np.floor(positions / scale)
    return np.clip(index.astype(np.int64), 0, n_in - 1)


def _resize_attributes(op, n_in: int, dtype, prefer: dict | None = None) -> dict | None:
    """Resize's attributes reproducing ``op``'s source positions, or None if no mode does; where two modes give
    the same positions, the one with ``prefer``'s coordinate transformation."""
    lower = np.asarray(op.lower)
    n_out = len(lower)
    preferred = (prefer or {}).get("coordinate_transformation_mode")
    if op.upper is None:
        for exact in sorted((False, True), key=lambda exact: (preferred == "half_pixel") != exact):
            if np.array_equal(lower, _nearest_indices(n_in, n_out, None, exact)) \
                    and np.array_equal(lower, _onnx_nearest(n_in, n_out, exact)):
                return {"mode": "nearest",
                        "coordinate_transformation_mode": "half_pixel" if exact else "asymmetric",
                        "nearest_mode": "round_prefer_ceil" if exact else "floor"}
        return None
    for align_corners in sorted((False, True), key=lambda align: (preferred == "align_corners") != align):
        expected_lower, expected_upper, weight = _linear_indices(n_in, n_out, None, align_corners, dtype)
        if np.array_equal(lower, expected_lower) and np.array_equal(np.asarray(op.upper), expected_upper) \
                and np.allclose(np.asarray(op.upper_weight), weight, rtol=0, atol=1e-6):
            return {"mode": "linear",
                    "coordinate_transformation_mode": "align_corners" if align_corners else "half_pixel"}
    return None


def _gathered(node, graph, x: str) -> str:
    """Ember's own computation: Gather of the source indices (and the weighted sum for linear modes)."""
    op = node.op
    dtype = node.inputs[0].array.dtype
    ndim = node.inputs[0].array.ndim
    low = graph.add("Gather", [x, graph.ints(np.asarray(op.lower))], axis=int(op.axis))
    if op.upper is None:
        return low
    high = graph.add("Gather", [x, graph.ints(np.asarray(op.upper))], axis=int(op.axis))
    weight = np.asarray(op.upper_weight, dtype=dtype).reshape((-1,) + (1,) * (ndim - op.axis - 1))
    low = graph.add("Mul", [low, graph.constant(1 - weight)])
    high = graph.add("Mul", [high, graph.constant(weight)])
    return graph.add("Add", [low, high])


def _dynamic_scale(node, graph, axis: int, n_in: int, n_out: int) -> float | None:
    """None where the resampled axis has the same size in both traces; else the factor out/in that holds in
    both (ONNX Resize then gets ``scales``), refusing other cases."""
    if node.alternate is None:
        return None
    other_in = node.alternate.inputs[0].array.shape[axis]
    other_out = len(node.alternate.op.lower)
    if other_in == n_in:
        return None
    if other_out == n_out:  # a fixed output size (``size=``): Resize to that size, whatever the input's
        return None
    factor = Fraction(n_out, n_in)
    if Fraction(other_out, other_in) != factor or Fraction(float(np.float32(factor))) != factor:
        raise graph.unsupported(
            f"axis {axis} follows a dynamic input size ({n_in} -> {n_out}, {other_in} -> {other_out} in the other "
            "trace) but not by one exact factor; resample by a whole (or binary-fraction) scale_factor, or keep "
            "that axis static")
    return float(factor)


@converts(ops.Resample)
def resample(node, graph):
    (x,) = graph.inputs(node)
    op = node.op
    source = node.inputs[0]
    shape = source.array.shape
    axis = int(op.axis)
    n_in, n_out = shape[axis], len(op.lower)
    scale = _dynamic_scale(node, graph, axis, n_in, n_out)
    earlier = graph.resized.get(id(source))
    attributes = _resize_attributes(op, n_in, source.array.dtype, earlier[2] if earlier else None)
    if attributes is None:
        if scale is not None:
            raise graph.unsupported(f"axis {axis} follows a dynamic input size, and Resize cannot give Ember's "
                                    f"source positions for {n_in} -> {n_out}")
        return _gathered(node, graph, x)
    # per resampled axis: ("size", output size) or ("scale", factor), the latter where the axis is dynamic
    targets, members = {axis: ("size", n_out) if scale is None else ("scale", scale)}, [(op, n_in, source.array.dtype)]
    if earlier is not None and axis not in earlier[1] \
            and {kind for kind, _ in earlier[1].values()} == {targets[axis][0]} \
            and all(_resize_attributes(other, other_in, dtype, attributes) == attributes
                    for other, other_in, dtype in earlier[3]):
        # another axis in the same mode (bilinear's second axis): one Resize of both from the earlier source
        x, targets, members = earlier[0], {**earlier[1], **targets}, earlier[3] + members
    if targets[axis][0] == "scale":
        scales = np.ones(len(shape), dtype=np.float32)
        for resized_axis, (_, factor) in targets.items():
            scales[resized_axis] = factor
        output = graph.add("Resize", [x, "", graph.constant(scales)], **attributes)
    else:
        # sizes: the source's own shape (batch included, which may be dynamic) with the resampled axes replaced
        full_shape = graph.add("Shape", [x])
        parts, start = [], 0
        for resized_axis in sorted(targets):
            if resized_axis > start:
                parts.append(graph.add("Slice", [full_shape, graph.ints([start]), graph.ints([resized_axis])]))
            parts.append(graph.ints([targets[resized_axis][1]]))
            start = resized_axis + 1
        if start < len(shape):
            parts.append(graph.add("Slice", [full_shape, graph.ints([start]), graph.ints([_INT64_MAX])]))
        output = graph.add("Resize", [x, "", "", graph.add("Concat", parts, axis=0)], **attributes)
    graph.resized[id(node.outputs[0])] = (x, targets, attributes, members)
    return output
