"""Linear algebra: matmul (batched, broadcast batch dims), mm, bmm, baddbmm, dot, outer, einsum."""
from __future__ import annotations

import math
import string

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import threads
from ..backend.device import get_array_module
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


def _thin_kernels(x, weight, transposed: bool):
    """The compiled kernels and thread count for ``kernels/thin_gemm.c``'s products of x (rows, k) by a weight of
    few input features, or (None, 0): they run where Ember has the cores (``threads.threads_for``: OpenBLAS set
    to one thread, the output large enough to share) on NumPy float arrays with k up to the kernels'
    ``thin_features`` and outputs a whole number of vectors."""
    from ..backend import compiled

    outputs = weight.shape[0 if transposed else 1]
    if (type(x) is not np.ndarray or x.ndim != 2 or x.shape[0] == 0
            or threads.threads_for(x.shape[0] * outputs) is not None):
        return None, 0
    kernels = compiled.for_arrays(x, weight)
    if kernels is None or x.shape[1] > kernels.thin_features or outputs % (kernels.vector_bytes // x.itemsize):
        return None, 0
    return kernels, threads.thread_count()


class Affine(Primitive):
    """``x @ w + b`` (``x @ w.T + b`` when ``transposed``, the layout of ``nn.Linear``'s (out, in) weight) in
    one node: one GEMM, the bias added in place, and a weight gradient that is a fresh array in the weight's
    own layout. x: (*, in); b optional.

    Fast path ``forward_thin``: for inputs of few features (a recurrent layer's input projection over every
    step), the product and, in ``backward_arrays``, the weight gradient by ``kernels/thin_gemm.c``, whose
    register blocks suit k <= 32 better than a BLAS GEMM's; it declines elsewhere."""

    fast_forward = ("forward_thin",)

    def __init__(self, transposed: bool):
        self.transposed = transposed

    def forward_thin(self, x, weight, bias=None):
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1]) if x.ndim > 2 else x
        kernels, count = _thin_kernels(rows, weight, self.transposed)
        if kernels is None:
            return None
        y = kernels.thin_forward(np.ascontiguousarray(rows), np.ascontiguousarray(weight), self.transposed, count)
        if y is None:
            return None
        self.save_for_backward(x, weight)
        self.forward_was_thin = True
        if x.ndim > 2:
            y = y.reshape(*x.shape[:-1], y.shape[-1])
        if bias is not None:
            y += bias
        return y

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        # one GEMM over all rows: NumPy's matmul of a (B, T, in) stack runs one small GEMM per matrix (2-4x
        # slower at a GPT's (12, 64, 128))
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1]) if x.ndim > 2 else x
        y = threads.matmul(rows, weight.T if self.transposed else weight)
        if x.ndim > 2:
            y = y.reshape(*x.shape[:-1], y.shape[-1])
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
        rows = grad.reshape(math.prod(grad.shape[:-1]), grad.shape[-1])  # explicit sizes: empty inputs too
        grad_x = None
        if needs[0]:  # on the rows as one matrix, as forward
            grad_x = threads.matmul(rows, weight if self.transposed else weight.T).reshape(x.shape)
        grad_weight = None
        if needs[1]:
            inputs = x.reshape(rows.shape[0], x.shape[-1])
            if getattr(self, "forward_was_thin", False):
                kernels, count = _thin_kernels(inputs, weight, self.transposed)
                if kernels is not None:
                    grad_weight = kernels.thin_weight_grad(np.ascontiguousarray(inputs), np.ascontiguousarray(rows),
                                                           self.transposed, count)
            if grad_weight is None:
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


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * bmm(batch1, batch2)`` for batch1 (B, n, k), batch2 (B, k, m) and an input that
    broadcasts to (B, n, m); with ``beta=0`` the input is ignored (NaN and inf in it do not propagate)."""
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0] \
            or batch1.shape[2] != batch2.shape[1]:
        raise ValueError(f"baddbmm: expected batch1 (B, n, k) and batch2 (B, k, m), received {batch1.shape} and "
                         f"{batch2.shape}")
    product_shape = (batch1.shape[0], batch1.shape[1], batch2.shape[2])
    try:
        valid = np.broadcast_shapes(input.shape, product_shape) == product_shape
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"baddbmm: input of shape {input.shape} does not broadcast to the product's shape "
                         f"{product_shape}")
    product = matmul(batch1, batch2)
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)


# ---------------------------------------------------------------------------------------------- einsum
_LETTERS = string.ascii_letters


class Einsum(Primitive):
    """``np.einsum`` of a parsed equation: each operand's subscript is a string of letters (no ellipsis, all
    sizes of one letter equal), the output's letters appear in some operand and not twice.

    The gradient of operand i is the einsum of the output's gradient with the other operands onto operand i's
    letters; letters that only operand i has are restored by a ones vector, and a letter repeated within
    operand i (a diagonal, ``ii->i``) by identity matrices, so the backward is itself an einsum of Ember
    tensors and differentiates again.

    Fast path: ``forward_matmul`` runs a two-operand contraction (``bhqd,bhkd->bhqk`` and the like) as one
    batched GEMM between transposed, reshaped operands (NumPy's einsum does not use BLAS when batch letters
    are present).
    """

    fast_forward = ("forward_matmul",)

    def __init__(self, inputs: tuple[str, ...], output: str, sizes: dict):
        self.subscripts, self.output, self.sizes = inputs, output, sizes

    def forward(self, *operands):
        self.save_for_backward(*operands)
        equation = ",".join(self.subscripts) + "->" + self.output
        xp = get_array_module(operands[0])
        return xp.asarray(xp.einsum(equation, *operands, optimize=len(operands) > 2))

    def forward_matmul(self, *operands):
        if len(operands) != 2 or type(operands[0]) is not np.ndarray or operands[0].dtype.kind != "f":
            return None
        (a, b), (sub_a, sub_b), out = operands, self.subscripts, self.output
        if len(set(sub_a)) != len(sub_a) or len(set(sub_b)) != len(sub_b):
            return None  # diagonals
        if any(letter not in out and letter not in other for sub, other in ((sub_a, sub_b), (sub_b, sub_a))
               for letter in sub):
            return None  # a letter summed within one operand
        batch = [letter for letter in out if letter in sub_a and letter in sub_b]
        rows = [letter for letter in out if letter in sub_a and letter not in sub_b]
        cols = [letter for letter in out if letter in sub_b and letter not in sub_a]
        inner = [letter for letter in sub_a if letter not in out]
        size = self.sizes
        count = int(np.prod([size[c] for c in batch], dtype=np.int64))
        m = int(np.prod([size[c] for c in rows], dtype=np.int64))
        n = int(np.prod([size[c] for c in cols], dtype=np.int64))
        k = int(np.prod([size[c] for c in inner], dtype=np.int64))
        left = a.transpose([sub_a.index(c) for c in batch + rows + inner]).reshape(count, m, k)
        right = b.transpose([sub_b.index(c) for c in batch + inner + cols]).reshape(count, k, n)
        product = threads.matmul(left, right).reshape([size[c] for c in batch + rows + cols])
        order = batch + rows + cols
        result = product.transpose([order.index(c) for c in out])
        if not result.flags.c_contiguous:  # (ascontiguousarray would turn a 0-d result into shape (1,))
            result = np.ascontiguousarray(result)
        self.save_for_backward(a, b)
        return result

    def backward(self, grad):
        operands = self.saved_tensors
        needs = self.needs_input_grad
        return tuple(self._operand_grad(i, grad, operands) if needs[i] else None for i in range(len(operands)))

    def _operand_grad(self, i: int, grad: Tensor, operands) -> Tensor:
        xp = get_array_module(grad.array)
        dtype = grad.dtype
        subscripts = [self.output] + [s for j, s in enumerate(self.subscripts) if j != i]
        tensors = [grad] + [t for j, t in enumerate(operands) if j != i]
        present = set("".join(subscripts))
        unused = iter(letter for letter in _LETTERS if letter not in "".join(self.subscripts) + self.output)
        target = ""
        sizes = dict(self.sizes)
        seen: set = set()
        for letter in self.subscripts[i]:
            if letter in seen:  # a repeated letter: a fresh one, tied to the first by an identity matrix
                fresh = next(unused)
                sizes[fresh] = self.sizes[letter]
                subscripts.append(letter + fresh)
                tensors.append(Tensor(xp.eye(self.sizes[letter], dtype=dtype)))
                target += fresh
                continue
            seen.add(letter)
            if letter not in present:  # summed over in operand i alone: the gradient is constant along it
                subscripts.append(letter)
                tensors.append(Tensor(xp.ones(self.sizes[letter], dtype=dtype)))
                present.add(letter)
            target += letter
        return Einsum(tuple(subscripts), target, sizes)(*tensors)


def _parse_einsum(equation: str, shapes: list) -> tuple[tuple[str, ...], str]:
    """Rewrite ``equation`` with letters only: each ``...`` becomes as many fresh letters as the broadcast
    batch dims it stands for (right-aligned, as in NumPy). Returns the input subscripts and the output's."""
    equation = equation.replace(" ", "")
    if "->" in equation:
        left, output = equation.split("->", 1)
        explicit = True
    else:
        left, output, explicit = equation, "", False
    inputs = left.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} names {len(inputs)} operands, received {len(shapes)}")
    for part in inputs + [output]:
        stripped = part.replace("...", "")
        if "." in stripped or any(letter not in _LETTERS for letter in stripped):
            raise ValueError(f"einsum: subscripts must be letters (a-z, A-Z) and '...', received {equation!r}")
    unused = [letter for letter in _LETTERS if letter not in equation]
    ellipsis_ndim = 0
    for part, shape in zip(inputs, shapes):
        letters = len(part.replace("...", ""))
        if "..." in part:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - letters)
        if ("..." in part and letters > len(shape)) or ("..." not in part and letters != len(shape)):
            raise ValueError(f"einsum: subscript {part!r} does not match an operand of shape {tuple(shape)}")
    batch = "".join(unused[:ellipsis_ndim])
    rewritten = []
    for part, shape in zip(inputs, shapes):
        own = len(shape) - len(part.replace("...", ""))
        rewritten.append(part.replace("...", batch[ellipsis_ndim - own:] if own else ""))
    if explicit:
        if "..." in output and not any("..." in part for part in inputs):
            raise ValueError(f"einsum: the output of {equation!r} has '...' but no operand has")
        output = output.replace("...", batch)
    else:  # NumPy's implicit output: the batch dims, then the letters used once, in alphabetical order
        counts = "".join(part.replace("...", "") for part in inputs)
        output = batch + "".join(sorted((c for c in set(counts) if counts.count(c) == 1),
                                        key=lambda c: (c.isupper(), c)))
    for letter in output:
        if output.count(letter) > 1:
            raise ValueError(f"einsum: the output subscript of {equation!r} repeats {letter!r}")
        if not any(letter in part for part in rewritten):
            raise ValueError(f"einsum: the output subscript {letter!r} of {equation!r} is in no operand")
    return tuple(rewritten), output


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("bhqd,bhkd->bhqk", q, k)``.

    Subscripts are letters; ``...`` stands for broadcast batch dims; a letter repeated within one operand takes
    its diagonal (``"ii->i"``, ``"ii"`` for the trace); without ``->`` the output is the letters used once, in
    alphabetical order. Operands may also be passed as one list. Dims of size 1 broadcast, as in PyTorch.
    Differentiable in every operand, to any order.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    for index, operand in enumerate(operands):
        if not isinstance(operand, Tensor):
            raise TypeError(f"einsum: operand {index} is a {type(operand).__name__}, expected a Tensor")
    inputs, output = _parse_einsum(equation, [operand.shape for operand in operands])
    sizes: dict = {}
    for part, operand in zip(inputs, operands):
        for letter, size in zip(part, operand.shape):
            if size != 1:
                if sizes.get(letter, size) != size:
                    raise ValueError(f"einsum: subscript {letter!r} of {equation!r} has sizes {sizes[letter]} and "
                                     f"{size} (operand shapes {[o.shape for o in operands]})")
                sizes[letter] = size
    for part in inputs:
        for letter in part:
            sizes.setdefault(letter, 1)
    # size-1 dims broadcast against their letter's size (a view; the engine sums the gradient back)
    broadcast = []
    for part, operand in zip(inputs, operands):
        full = tuple(sizes[letter] for letter in part)
        broadcast.append(operand if operand.shape == full else operand.broadcast_to(full))
    dtype_operands = _common_dtypes(broadcast)
    return Einsum(inputs, output, sizes)(*dtype_operands)


def _common_dtypes(tensors: list) -> list:
    from .elementwise import result_type

    dtype = result_type(*tensors)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


__all__ = ["matmul", "rmatmul", "mm", "bmm", "baddbmm", "dot", "outer", "einsum"]
