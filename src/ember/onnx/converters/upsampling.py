"""Resampling (``F.interpolate``, ``nn.Upsample``, Keras ``UpSampling2D``): each ``Resample`` (one spatial axis)
as one ONNX Resize of that axis, with the coordinate transformation and rounding of the PyTorch mode:

* nearest (PyTorch's legacy ``floor(i * in/out)``): ``asymmetric`` coordinates, ``nearest_mode="floor"``;
* nearest-exact (``floor((i + 0.5) * in/out)``): ``half_pixel``, ``nearest_mode="round_prefer_ceil"``;
* linear, align_corners=False (half-pixel centres clamped at 0): ``half_pixel``, ``mode="linear"``;
* linear, align_corners=True: ``align_corners``, ``mode="linear"``.

Consecutive Resamples of other axes in the same mode (bilinear's two, nearest's two) become one Resize of
the first one's source: the earlier Resize is left without consumers, and removed from the graph.

Resize gets the output size (``sizes``, the input's shape with the resampled axis replaced), so ONNX derives its
scale as out/in. That is the scale Ember used unless ``interpolate`` was called with a ``scale_factor`` whose
product with the input size is not a whole number (and ``recompute_scale_factor`` off); then, or whenever
onnxruntime's float32 formula would pick other source positions than Ember did, the axis is exported as
Gather of Ember's own source indices (and, for linear modes, the weighted sum of the two gathers).
"""
from __future__ import annotations

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


@converts(ops.Resample)
def resample(node, graph):
    (x,) = graph.inputs(node)
    op = node.op
    source = node.inputs[0]
    shape = source.array.shape
    axis = int(op.axis)
    n_in, n_out = shape[axis], len(op.lower)
    earlier = graph.resized.get(id(source))
    attributes = _resize_attributes(op, n_in, source.array.dtype, earlier[2] if earlier else None)
    if attributes is None:
        return _gathered(node, graph, x)
    sizes, members = {axis: n_out}, [(op, n_in, source.array.dtype)]
    if earlier is not None and axis not in earlier[1] and all(
            _resize_attributes(other, other_in, dtype, attributes) == attributes
            for other, other_in, dtype in earlier[3]):
        # another axis in the same mode (bilinear's second axis): one Resize of both from the earlier source
        x, sizes, members = earlier[0], {**earlier[1], axis: n_out}, earlier[3] + members
    # sizes: the source's own shape (batch included, which may be dynamic) with the resampled axes replaced
    full_shape = graph.add("Shape", [x])
    parts, start = [], 0
    for resized_axis in sorted(sizes):
        if resized_axis > start:
            parts.append(graph.add("Slice", [full_shape, graph.ints([start]), graph.ints([resized_axis])]))
        parts.append(graph.ints([sizes[resized_axis]]))
        start = resized_axis + 1
    if start < len(shape):
        parts.append(graph.add("Slice", [full_shape, graph.ints([start]), graph.ints([_INT64_MAX])]))
    output = graph.add("Resize", [x, "", "", graph.add("Concat", parts, axis=0)], **attributes)
    graph.resized[id(node.outputs[0])] = (x, sizes, attributes, members)
    return output
