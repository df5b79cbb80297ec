"""Converters from Ember's primitives to ONNX nodes: one function per primitive class, one module per family.

A converter is ``convert(node, graph) -> name or list of names`` (one per output of the primitive; None for an
output ONNX cannot give, which raises if the exported graph uses it). ``node`` is the ``TracedNode`` (the op
object with its attributes, its inputs and outputs as traced) and ``graph`` the ``GraphBuilder``.

Register one with ``@converts(PrimitiveClass)`` in the module of its family, mirroring ``ember/functions/``:
elementwise, activation, linalg, conv, pooling, normalization, shape, indexing, reduction, recurrent,
padding, upsampling, attention (the fused scaled-dot-product op decomposes into MatMul, a scale (Mul), the mask
(Add or Where), Softmax on the last axis and MatMul).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

CONVERTERS: dict[type, Callable[..., Any]] = {}


def converts(*classes: type) -> Callable:
    """Register the decorated function as the converter of each primitive class in ``classes``."""
    def register(function: Callable) -> Callable:
        for cls in classes:
            CONVERTERS[cls] = function
        return function
    return register


def converter_for(op) -> Callable[..., Any] | None:
    return CONVERTERS.get(type(op))


from . import (  # noqa: E402,F401 - each family module registers its converters when imported
    activation,
    attention,
    conv,
    elementwise,
    indexing,
    linalg,
    normalization,
    padding,
    pooling,
    recurrent,
    reduction,
    shape,
    upsampling,
)
