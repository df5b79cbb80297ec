"""Padding by repeating the input: PyTorch's ``F.pad`` modes ``"reflect"``, ``"replicate"`` and ``"circular"``
(``"constant"`` is ``shape.Pad``; ``shape.pad`` is the wrapper users call and sends these modes here).

Two linear primitives, each the other's backward: ``PadRepeat`` builds the padded array (``numpy.pad``
with the mode that indexes the same positions), ``PadRepeatGrad`` folds a padded array's gradient back
onto the input, by strided slice additions along one axis at a time (no scatter).
"""
from __future__ import annotations

from ..autograd.function import Primitive
from ..backend.device import get_array_module

# PyTorch's mode -> numpy.pad's mode with the same index pattern
NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _along(axis: int, ndim: int, index) -> tuple:
    """An index tuple selecting ``index`` (a slice) along ``axis`` of an ``ndim``-d array."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _reversed(axis: int, ndim: int, start: int, stop: int) -> tuple:
    """Positions stop-1 down to start along ``axis``."""
    return _along(axis, ndim, slice(stop - 1, start - 1 if start > 0 else None, -1))


class PadRepeat(Primitive):
    """Pad with ``mode`` (a key of ``NUMPY_MODES``); ``widths`` is ((before, after), ...) per axis, >= 0."""

    def __init__(self, widths, mode: str):
        self.widths, self.mode = tuple(widths), mode

    def forward(self, x):
        self.input_shape = x.shape
        return get_array_module(x).pad(x, self.widths, mode=NUMPY_MODES[self.mode])

    def backward(self, grad):
        return PadRepeatGrad(self.widths, self.mode, self.input_shape)(grad)


class PadRepeatGrad(Primitive):
    """The gradient of ``PadRepeat``: each padded position's gradient added to the input position it copies."""

    def __init__(self, widths, mode: str, input_shape):
        self.widths, self.mode, self.input_shape = tuple(widths), mode, tuple(input_shape)

    def forward(self, grad):
        for axis, (before, after) in enumerate(self.widths):
            if before or after:
                grad = self._fold(grad, axis, before, after)
        return grad

    def _fold(self, grad, axis: int, before: int, after: int):
        """``grad`` with axis ``axis`` of length before + size + after folded to ``size``."""
        xp = get_array_module(grad)
        ndim, size = grad.ndim, self.input_shape[axis]
        folded = grad[_along(axis, ndim, slice(before, before + size))].copy()
        head = grad[_along(axis, ndim, slice(0, before))]
        tail = grad[_along(axis, ndim, slice(before + size, before + size + after))]
        if self.mode == "reflect":  # pad position i < before copies before - i; tail position j copies size-2-j
            folded[_reversed(axis, ndim, 1, before + 1)] += head
            folded[_reversed(axis, ndim, size - 1 - after, size - 1)] += tail
        elif self.mode == "circular":  # head copies the last ``before`` positions, tail the first ``after``
            folded[_along(axis, ndim, slice(size - before, size))] += head
            folded[_along(axis, ndim, slice(0, after))] += tail
        else:  # replicate: the edges take every copy
            folded[_along(axis, ndim, slice(0, 1))] += xp.sum(head, axis=axis, keepdims=True)
            folded[_along(axis, ndim, slice(size - 1, size))] += xp.sum(tail, axis=axis, keepdims=True)
        return folded

    def backward(self, grad_input):
        return PadRepeat(self.widths, self.mode)(grad_input)


__all__: list = []
