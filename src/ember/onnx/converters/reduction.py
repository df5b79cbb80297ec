"""Reductions: sum (mean is a sum and a scale), prod, max/min (all axes, or along a dim with indices),
logsumexp, cumsum."""
from __future__ import annotations

import numpy as np

from ...functions import reduction as ops
from . import converts


def _axes(axes, ndim: int):
    if axes is None:
        return None
    return [int(a) % ndim for a in np.atleast_1d(axes)]


@converts(ops.Sum, ops.Prod, ops.MaxMin, ops.LogSumExp)
def reduce(node, graph):
    (x,) = graph.inputs(node)
    op = node.op
    kind = {ops.Sum: "ReduceSum", ops.Prod: "ReduceProd", ops.LogSumExp: "ReduceLogSumExp"}.get(type(op))
    if kind is None:
        kind = "ReduceMax" if op.find_max else "ReduceMin"
    return graph.reduce(kind, x, _axes(op.axes, node.inputs[0].array.ndim), op.keepdims)


@converts(ops.MaxMinAlongDim)
def max_min_along_dim(node, graph):
    (x,) = graph.inputs(node)
    op = node.op
    values = graph.reduce("ReduceMax" if op.find_max else "ReduceMin", x, [op.axis], op.keepdims)
    indices = graph.add("ArgMax" if op.find_max else "ArgMin", [x], axis=int(op.axis),
                        keepdims=int(op.keepdims), select_last_index=0)
    return [values, indices]


@converts(ops.CumSum)
def cumsum(node, graph):
    (x,) = graph.inputs(node)
    return graph.add("CumSum", [x, graph.constant(np.asarray(node.op.axis, dtype=np.int64))])
