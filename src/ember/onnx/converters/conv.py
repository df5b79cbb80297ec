"""Convolutions: ``Conv2d`` (also behind conv1d, which runs it over an (N, C, 1, L) view) as ONNX Conv."""
from __future__ import annotations

from ...functions import conv as ops
from . import converts


@converts(ops.Conv2d)
def conv2d(node, graph):
    geometry = node.op.geometry
    (top, bottom), (left, right) = geometry.padding
    return graph.add("Conv", graph.inputs(node), kernel_shape=list(geometry.kernel_size),
                     strides=list(geometry.stride), dilations=list(geometry.dilation),
                     pads=[top, left, bottom, right], group=int(geometry.groups))
