"""Linear algebra: matmul (batched, broadcast batch dims), mm, bmm, dot."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ._convert import promote
from .elementwise import _common_dtype


class MatMul(Primitive):
    """``a @ b`` for inputs of at least 2 dims; batch dims broadcast (the engine sums their gradients)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a).matmul(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        return matmul(grad, b.mT), matmul(a.mT, grad)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics: 1-d operands are promoted to matrices and the added dim
    removed; leading batch dims broadcast."""
    a, b = promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, received {a.shape} and {b.shape}")
    squeeze_rows = a.ndim == 1
    squeeze_cols = b.ndim == 1
    if squeeze_rows:
        a = a.reshape(1, a.shape[0])
    if squeeze_cols:
        b = b.reshape(b.shape[0], 1)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are incompatible (inner dims {a.shape[-1]} != {b.shape[-2]})"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of {a.shape} and {b.shape} cannot be broadcast together") from None
    result = MatMul()(*_common_dtype(a, b))
    if squeeze_rows:
        result = result.squeeze(-2)
    if squeeze_cols:
        result = result.squeeze(-1)
    return result


def rmatmul(a, b) -> Tensor:
    return matmul(b, a)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Product of two matrices (2-d only)."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expected two matrices, received shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched product of (B, n, k) and (B, k, m) tensors."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expected (B, n, k) and (B, k, m) tensors, received {a.shape} and {b.shape}")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-d tensors."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expected two 1-d tensors of equal length, received {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    return a.reshape(-1, 1) * b.reshape(1, -1)


__all__ = ["matmul", "rmatmul", "mm", "bmm", "dot", "outer"]
