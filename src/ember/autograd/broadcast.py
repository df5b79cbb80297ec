"""The engine's own bookkeeping ops: summing a broadcast gradient back to its input's shape, and its adjoint.

``SumTo`` and ``BroadcastTo`` are each other's backward, so the pair closes under differentiation: a gradient
reduced by the engine stays differentiable with ``create_graph=True``. The functions layer re-exports them
(``ember.sum_to``, ``ember.broadcast_to``).
"""
from __future__ import annotations

from ..backend.device import get_array_module
from .function import Primitive


class SumTo(Primitive):
    """Sum a broadcast result back to ``shape`` (the engine's reduction for broadcast inputs)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        lead = x.ndim - len(self.shape)
        if lead < 0:
            raise ValueError(f"sum_to: cannot sum shape {x.shape} to the longer shape {self.shape}")
        axes = list(range(lead))
        for i, size in enumerate(self.shape):
            if size == 1 and x.shape[lead + i] != 1:
                axes.append(lead + i)
            elif size != x.shape[lead + i]:
                raise ValueError(f"sum_to: shape {x.shape} does not broadcast from {self.shape}")
        y = x.sum(axis=tuple(axes), keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, grad):
        return BroadcastTo(self.input_shape)(grad)


class BroadcastTo(Primitive):
    """A read-only broadcast view of ``x`` with ``shape``; its gradient sums back to ``x``'s shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, grad):
        return sum_to(grad, self.input_shape)


def sum_to(x, shape):
    """Sum Tensor ``x`` over broadcast axes so that it has ``shape`` (inverse of broadcasting)."""
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)


__all__ = ["SumTo", "BroadcastTo", "sum_to"]
