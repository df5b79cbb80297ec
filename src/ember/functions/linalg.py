"""Linear algebra: matmul (batched, broadcast batch dims), mm, bmm, dot."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import threads
from ._convert import promote
from .elementwise import _common_dtype


class MatMul(Primitive):
    """``a @ b`` for inputs of at least 2 dims; batch dims broadcast (the engine sums their gradients)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return threads.matmul(a, b)

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


class Affine(Primitive):
    """``x @ w + b`` (``x @ w.T + b`` when ``transposed``, the layout of ``nn.Linear``'s (out, in) weight) in
    one node: one GEMM, the bias added in place, and a weight gradient that is a fresh array in the weight's
    own layout. x: (*, in); b optional."""

    def __init__(self, transposed: bool):
        self.transposed = transposed

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        y = threads.matmul(x, weight.T if self.transposed else weight)
        if bias is not None:
            y += bias
        return y

    def backward(self, grad):
        x, weight = self.saved_tensors
        needs = self.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1]) if grad.ndim != 2 else grad
        grad_x = matmul(grad, weight if self.transposed else weight.mT) if needs[0] else None
        grad_weight = None
        if needs[1]:
            inputs = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            grad_weight = matmul(rows.mT, inputs) if self.transposed else matmul(inputs.mT, rows)
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, (rows.sum(dim=0) if needs[2] else None)

    def backward_arrays(self, grad):
        """``backward`` on arrays: the same products (and numbers) without dispatching Ember ops."""
        x, weight = self.saved_arrays
        needs = self.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1])
        grad_x = threads.matmul(grad, weight if self.transposed else weight.T) if needs[0] else None
        grad_weight = None
        if needs[1]:
            inputs = x.reshape(-1, x.shape[-1])
            grad_weight = threads.matmul(rows.T, inputs) if self.transposed else threads.matmul(inputs.T, rows)
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, (rows.sum(axis=0) if needs[2] else None)


def affine(x: Tensor, weight: Tensor, bias: Tensor | None = None, transposed: bool = False) -> Tensor:
    """``x @ weight + bias`` (``x @ weight.T + bias`` when ``transposed``) for x (*, in) with at least 2 dims,
    a 2-d weight and an optional 1-d bias of one floating dtype; other cases go through ``matmul`` and ``+``."""
    fused = (
        isinstance(x, Tensor) and x.ndim >= 2 and weight.ndim == 2 and x.dtype.kind == "f"
        and weight.dtype == x.dtype and (bias is None or (bias.ndim == 1 and bias.dtype == x.dtype))
        and x.shape[-1] == weight.shape[1 if transposed else 0]
        and (bias is None or bias.shape[0] == weight.shape[0 if transposed else 1])
    )
    if not fused:
        output = matmul(x, weight.T if transposed else weight)
        return output if bias is None else output + bias
    return Affine(transposed)(x, weight) if bias is None else Affine(transposed)(x, weight, bias)


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
