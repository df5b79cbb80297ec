"""Elementwise ops: arithmetic, powers, exp/log, clamp, where, casts; ONNX broadcasts as NumPy does."""
from __future__ import annotations

import numpy as np

from ...functions import elementwise as ops
from . import converts

_SAME_NAME = {
    ops.Add: "Add", ops.Sub: "Sub", ops.Mul: "Mul", ops.Div: "Div", ops.Neg: "Neg", ops.Pow: "Pow",
    ops.Exp: "Exp", ops.Log: "Log", ops.Sqrt: "Sqrt", ops.Sin: "Sin", ops.Cos: "Cos", ops.Abs: "Abs",
    ops.Maximum: "Max", ops.Minimum: "Min", ops.Where: "Where",
}


@converts(*_SAME_NAME)
def one_node(node, graph):
    return graph.add(_SAME_NAME[type(node.op)], graph.inputs(node))


@converts(ops.Clone, ops.ToDevice)
def identity(node, graph):
    return graph.add("Identity", graph.inputs(node))


def _scalar_like(node, value) -> np.ndarray:
    return np.asarray(value, dtype=node.outputs[0].array.dtype)


@converts(ops.PowScalar)
def pow_scalar(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Pow", [x, graph.constant(_scalar_like(node, node.op.exponent))])


@converts(ops.RPowScalar)
def rpow_scalar(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Pow", [graph.constant(_scalar_like(node, node.op.base)), x])


@converts(ops.Log1p)
def log1p(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Log", [graph.add("Add", [x, graph.constant(_scalar_like(node, 1))])])


@converts(ops.Rsqrt)
def rsqrt(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("Reciprocal", [graph.add("Sqrt", [x])])


@converts(ops.Clamp)
def clamp(node, graph):
    (x,) = graph.inputs(node)
    low = "" if node.op.low is None else graph.constant(_scalar_like(node, node.op.low))
    high = "" if node.op.high is None else graph.constant(_scalar_like(node, node.op.high))
    return graph.add("Clip", [x, low, high])


@converts(ops.Cast)
def cast(node, graph):
    (x,) = graph.inputs(node)
    target = graph.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(node.outputs[0].array.dtype))
    return graph.add("Cast", [x], to=target)


@converts(ops.StepFunction)
def step_function(node, graph):
    (x,) = graph.inputs(node)
    names = {"sign": "Sign", "floor": "Floor", "ceil": "Ceil", "round": "Round"}
    if node.op.function not in names or node.op.decimals != 0:
        raise graph.unsupported(f"{node.op.function} with decimals={node.op.decimals} has no ONNX form")
    return graph.add(names[node.op.function], [x])
