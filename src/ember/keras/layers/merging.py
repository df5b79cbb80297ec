"""Layers that combine several inputs (functional API): Add, Subtract, Multiply, Average, Concatenate."""
from __future__ import annotations

from ... import functions as F
from .base import Layer


class _Merge(Layer):
    def check_input(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise self.input_error("a list of at least 2 inputs", getattr(inputs, "shape", type(inputs).__name__))


class Add(_Merge):
    """Elementwise sum of a list of inputs of the same shape."""

    def call(self, inputs):
        total = inputs[0]
        for tensor in inputs[1:]:
            total = total + tensor
        return total


class Subtract(_Merge):
    def call(self, inputs):
        if len(inputs) != 2:
            raise self.input_error("exactly 2 inputs", [tuple(t.shape) for t in inputs])
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    def call(self, inputs):
        product = inputs[0]
        for tensor in inputs[1:]:
            product = product * tensor
        return product


class Average(Add):
    def call(self, inputs):
        return super().call(inputs) / float(len(inputs))


class Concatenate(_Merge):
    """Joins a list of inputs along ``axis`` (default: the last)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return F.cat(list(inputs), dim=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
