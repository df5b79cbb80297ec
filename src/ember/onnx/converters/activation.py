"""Activations. GELU (one ``GELU`` node in Ember) reaches ONNX as ``x * (erf(x * (1/sqrt 2)) + 1) * 0.5``: Mul,
Erf, Add, Mul, Mul, valid at every opset, which ``_fusion.fuse_gelu`` turns into one Gelu from opset 20 (the tanh
approximation arrives as its own Mul/Tanh/Add nodes and is fused there too)."""
from __future__ import annotations

import math

import numpy as np

from ...functions import activation as ops
from . import converts

_SAME_NAME = {ops.Tanh: "Tanh", ops.Sigmoid: "Sigmoid", ops.ReLU: "Relu", ops.Erf: "Erf"}


@converts(*_SAME_NAME)
def one_node(node, graph):
    return graph.add(_SAME_NAME[type(node.op)], graph.inputs(node))


def _scalar(node, value) -> np.ndarray:
    return np.asarray(value, dtype=node.outputs[0].array.dtype)


@converts(ops.PiecewiseLinear)
def piecewise_linear(node, graph):
    """leaky_relu (LeakyRelu), relu6/hardtanh (Max then Min), or the general ``where(x > low, x, slope * x)``."""
    (x,) = graph.inputs(node)
    op = node.op
    if op.negative_slope == 0:
        y = graph.add("Max", [x, graph.constant(_scalar(node, op.low))])
    elif op.low == 0:
        y = graph.add("LeakyRelu", [x], alpha=float(op.negative_slope))
    else:
        above = graph.add("Greater", [x, graph.constant(_scalar(node, op.low))])
        y = graph.add("Where", [above, x, graph.add("Mul", [x, graph.constant(_scalar(node, op.negative_slope))])])
    if op.high is not None:
        y = graph.add("Min", [y, graph.constant(_scalar(node, op.high))])
    return y


@converts(ops.SiLU)
def silu(node, graph):
    """``x * Sigmoid(x)``."""
    (x,) = graph.inputs(node)
    return graph.add("Mul", [x, graph.add("Sigmoid", [x])])


@converts(ops.ELU)
def elu(node, graph):
    return graph.add("Elu", graph.inputs(node), alpha=float(node.op.alpha))


@converts(ops.Softplus)
def softplus(node, graph):
    """``x`` where ``beta * x > threshold``, else ``softplus(beta * x) / beta`` (PyTorch's formula)."""
    (x,) = graph.inputs(node)
    if node.op.beta == 1:  # softplus(x) itself (the default, and Mish's)
        scaled = x
        smooth = graph.add("Softplus", [x])
    else:
        scaled = graph.add("Mul", [x, graph.constant(_scalar(node, node.op.beta))])
        smooth = graph.add("Div", [graph.add("Softplus", [scaled]), graph.constant(_scalar(node, node.op.beta))])
    linear = graph.add("Greater", [scaled, graph.constant(_scalar(node, node.op.threshold))])
    return graph.add("Where", [linear, x, smooth])


@converts(ops.Softmax)
def softmax(node, graph):
    return graph.add("Softmax", graph.inputs(node), axis=int(node.op.axis))


@converts(ops.LogSoftmax)
def log_softmax(node, graph):
    return graph.add("LogSoftmax", graph.inputs(node), axis=int(node.op.axis))


@converts(ops.GELU)
def gelu(node, graph):
    """Exact GELU in the chain ``fuse_gelu`` recognises: Mul(x, 1/sqrt 2), Erf, Add 1, Mul x, Mul 0.5."""
    (x,) = graph.inputs(node)
    erf = graph.add("Erf", [graph.add("Mul", [x, graph.constant(_scalar(node, 1 / math.sqrt(2)))])])
    times_x = graph.add("Mul", [x, graph.add("Add", [erf, graph.constant(_scalar(node, 1.0))])])
    return graph.add("Mul", [times_x, graph.constant(_scalar(node, 0.5))])
