"""Convolutions: ``Conv2d`` (also behind conv1d, which runs it over an (N, C, 1, L) view) as ONNX Conv;
``Conv2dGradInput`` (the transposed convolution behind ``conv_transpose1d/2d``, ``nn.ConvTranspose1d/2d`` and
Keras ``Conv2DTranspose``) as ONNX ConvTranspose."""
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


@converts(ops.Conv2dGradInput)
def conv_transpose2d(node, graph):
    """The full transposed output ((H-1)*s + d*(k-1) + 1 per axis) less the geometry's padding as crops.

    Ember folds PyTorch's ``padding`` and ``output_padding`` into unequal crops (p, p - output_padding) and
    pads negative crops with zeros afterwards (a ``Pad`` node), so explicit ``pads`` give the traced size and
    ``output_padding`` stays 0. The weight is (C_in, C_out/groups, kH, kW), ONNX's layout."""
    geometry = node.op.geometry
    (top, bottom), (left, right) = geometry.padding
    x, weight = graph.inputs(node)
    return graph.add("ConvTranspose", [x, weight], kernel_shape=list(geometry.kernel_size),
                     strides=list(geometry.stride), dilations=list(geometry.dilation),
                     pads=[top, left, bottom, right], group=int(geometry.groups))
