"""Attention: scaled_dot_product_attention.

``softmax(q @ k^T * scale + mask) @ v`` over the last two axes, with PyTorch's arguments. The forward pass
materialises one ``(L, S)`` matrix per head: the scores, turned into the probabilities ``P`` in place and kept
for backward. The array-only backward computes ``dP = dO @ v^T`` into one more ``(L, S)`` matrix and turns it
into the scores' gradient in place, ``dS = P * (dP - D)`` with ``D = rowsum(dO * O)`` (equal to
``rowsum(dP * P)``, dropout included, and only ``(L,)`` per head), then::

    dq = dS @ k * scale,   dk = dS^T @ q * scale,   dv = (P * keep)^T @ dO,   d(float mask) = dS

A row whose every position is masked gives zeros (PyTorch gives NaN there) and passes no gradient.

The reference ``backward`` recomputes ``P`` from ``q``, ``k`` and the mask with Ember ops, so that second
derivatives see how it depends on them.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from ..backend.layout import empty_ordered, memory_order
from .dropout import _scaled_keep_mask
from .elementwise import exp, where
from .linalg import matmul


def _causal_blocked(xp, rows: int, columns: int):
    """``(L, S)`` bool, True above the diagonal: the positions a top-left aligned causal mask hides."""
    return xp.triu(xp.ones((rows, columns), dtype=bool), k=1)


def _row_sums(x):
    """Sums along the last axis, kept, as ``x @ ones``: BLAS's matrix-vector product is several times faster
    than NumPy's reduction along short contiguous rows ((12, 4, 64, 64) float32: 0.06 -> 0.01 ms)."""
    xp = get_array_module(x)
    return xp.matmul(x, xp.ones((x.shape[-1], 1), dtype=x.dtype))


def _softmax_rows_in_place(scores, blocked):
    """Turn ``scores`` (..., L, S) into probabilities over the last axis in place; ``blocked`` (broadcastable
    bool, or None) marks positions that get probability 0. A row with nothing left gives zeros."""
    xp = get_array_module(scores)
    if blocked is not None:
        xp.copyto(scores, -np.inf, where=blocked)
    row_max = scores.max(axis=-1, keepdims=True)
    if blocked is not None:
        xp.copyto(row_max, 0, where=xp.isneginf(row_max))  # a fully masked row: exp(-inf - 0) = 0 everywhere
    scores -= row_max
    xp.exp(scores, out=scores)
    total = _row_sums(scores)
    if blocked is not None:
        xp.copyto(total, 1, where=total == 0)
    scores /= total
    return scores


def _softmax_rows_fast(scores, blocked, scale=1.0):
    """``_softmax_rows_in_place`` of ``scores * scale`` in one compiled pass per row where the kernels are
    built, ``scores`` is a C-contiguous NumPy array and ``blocked`` is None or varies over the last two axes
    only or over all of them; else the NumPy chain."""
    kernels = compiled.for_arrays(scores)
    columns = scores.shape[-1] if scores.ndim else 0
    if blocked is not None and kernels is not None:
        if blocked.shape == scores.shape:
            blocked = np.ascontiguousarray(blocked.reshape(-1, columns), dtype=bool)
        elif all(size == 1 for size in blocked.shape[:-2]):
            blocked = np.ascontiguousarray(np.broadcast_to(blocked.reshape(blocked.shape[-2:]), scores.shape[-2:]),
                                           dtype=bool)
        else:
            kernels = None
    if kernels is None or scores.ndim < 2 or not scores.size or not scores.flags.c_contiguous:
        if scale != 1.0:
            scores *= scores.dtype.type(scale)
        return _softmax_rows_in_place(scores, blocked)
    kernels.softmax_rows(scores.reshape(-1, columns), blocked, scale)
    return scores


def _scores_into_grad(grad_probabilities, probabilities, grad_output, output, keep):
    """``dS = P * (dP - rowsum(dO * O))`` in place in ``grad_probabilities`` (``dO @ v^T``), after applying the
    dropout mask ``keep`` (or None)."""
    if keep is not None:
        grad_probabilities *= keep
    row_dot = _row_sums(grad_output * output)
    grad_probabilities -= row_dot
    grad_probabilities *= probabilities
    return grad_probabilities


class ScaledDotProductAttention(Primitive):
    """``softmax(q @ k^T * scale + mask) @ v``.

    ``forward(q, k, v, [float_mask])``: q (..., L, E), k (..., S, E), v (..., S, Ev), batch dims broadcast;
    the float mask (broadcastable to (..., L, S)) is an input when given, so that it has a gradient.
    ``blocked``: a bool array broadcastable to (..., L, S), True where attention is forbidden (from a bool
    mask and/or ``is_causal``), or None. ``keep``: the scaled dropout keep-mask of shape (..., L, S), or None.
    Fast paths: ``forward_split`` (heads in ranges between threads, for NumPy inputs of one batch shape),
    ``forward_compiled`` (the softmax in one compiled pass per row, where the kernels are built; the split
    takes it too) and ``backward_arrays`` (the closed form above, on the saved probabilities).
    """

    fast_forward = ("forward_split", "forward_compiled")

    def __init__(self, scale: float, blocked=None, keep=None):
        self.scale, self.blocked, self.keep = scale, blocked, keep

    def _blocked(self, float_mask):
        """The positions to hide: the given ones and, with a float mask, its -inf entries."""
        if float_mask is None:
            return self.blocked
        xp = get_array_module(float_mask)
        not_finite = xp.isneginf(float_mask)
        if self.blocked is None:
            return not_finite if not_finite.any() else None
        return self.blocked | not_finite

    def _attend(self, q, k, v, float_mask, blocked, keep, probabilities=None, output=None, compiled_softmax=False):
        """Scores → probabilities (in place) → output, for any broadcastable (sub-)batch; returns both.
        ``probabilities``/``output``: arrays to write into (None: new ones). ``compiled_softmax``: the softmax
        by ``_softmax_rows_fast``, which also applies the scale when there is no float mask."""
        xp = get_array_module(q)
        if compiled_softmax and float_mask is None:
            scores = xp.matmul(q, xp.swapaxes(k, -1, -2), out=probabilities)
            probabilities = _softmax_rows_fast(scores, blocked, self.scale)
        else:
            scores = xp.matmul(q * q.dtype.type(self.scale), xp.swapaxes(k, -1, -2), out=probabilities)
            if float_mask is not None:
                scores += float_mask
            probabilities = (_softmax_rows_fast if compiled_softmax else _softmax_rows_in_place)(scores, blocked)
        weights = probabilities if keep is None else probabilities * keep
        return probabilities, xp.matmul(weights, v, out=output)

    def forward(self, q, k, v, float_mask=None):
        probabilities, output = self._attend(q, k, v, float_mask, self._blocked(float_mask), self.keep)
        self._save(q, k, v, float_mask, probabilities, output)
        return output

    def forward_compiled(self, q, k, v, float_mask=None):
        """The reference chain with the compiled softmax: NumPy inputs where the kernels are built."""
        if type(q) is not np.ndarray or compiled.for_arrays(q, k, v) is None:
            return None
        probabilities, output = self._attend(q, k, v, float_mask, self._blocked(float_mask), self.keep,
                                             compiled_softmax=True)
        self._save(q, k, v, float_mask, probabilities, output)
        return output

    def forward_split(self, q, k, v, float_mask=None):
        """The same chain on ranges of heads, one range per thread: NumPy arrays, q, k and v of one batch
        shape, masks either shared by every head or given per head."""
        if (type(q) is not np.ndarray or type(k) is not np.ndarray or type(v) is not np.ndarray or q.ndim < 3
                or not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
            return None
        rows, columns = q.shape[-2], k.shape[-2]
        heads = math.prod(q.shape[:-2])
        count = threads.threads_for(heads * rows * columns)
        if count == 1 or heads < 2:
            return None  # on one thread the reference chain is the same work
        blocked = self._blocked(float_mask)
        per_head = [self._per_head(array, q.shape[:-2], rows, columns) for array in (float_mask, blocked, self.keep)]
        if any(view is False for view in per_head):
            return None
        q3, k3, v3 = (array.reshape(heads, *array.shape[-2:]) for array in (q, k, v))
        probabilities = np.empty((heads, rows, columns), dtype=q.dtype)
        output = np.empty((heads, rows, v.shape[-1]), dtype=q.dtype)

        def attend_range(start, stop):
            mask, blocked_part, keep_part = (view if view is None or view.shape[0] == 1 else view[start:stop]
                                             for view in per_head)
            # float mask and blocked views are (1 or heads, L, S); a (1, L, S) one broadcasts over the range
            self._attend(q3[start:stop], k3[start:stop], v3[start:stop], mask, blocked_part, keep_part,
                         probabilities[start:stop], output[start:stop], compiled_softmax=True)

        threads.split_rows(attend_range, heads, count, per_thread=1)
        probabilities = probabilities.reshape(*q.shape[:-2], rows, columns)
        output = output.reshape(*q.shape[:-2], rows, v.shape[-1])
        self._save(q, k, v, float_mask, probabilities, output)
        return output

    @staticmethod
    def _per_head(array, batch_shape, rows, columns):
        """``array`` (broadcastable to batch + (L, S)) as (1 or heads, L, S); None stays None; False when it
        varies over only some batch axes (the reference path handles that)."""
        if array is None:
            return None
        full = (1,) * (len(batch_shape) + 2 - array.ndim) + array.shape
        lead = full[:-2]
        array = np.broadcast_to(array.reshape(full), (*lead, rows, columns))
        if all(size == 1 for size in lead):
            return array.reshape(1, rows, columns)
        if lead == tuple(batch_shape):
            return array.reshape(-1, rows, columns)
        return False

    def _save(self, q, k, v, float_mask, probabilities, output):
        saved = (q, k, v, probabilities, output, self.blocked, self.keep)
        self.save_for_backward(*(saved if float_mask is None else saved + (float_mask,)))
        # the dropout mask (as large as the scores) is kept only through save_for_backward, freed with the graph;
        # ``blocked`` (at most the size of the mask it came from) stays on the op, where ONNX export reads it
        self.keep = None

    def backward(self, grad):
        q, k, v, _, _, blocked, keep, *mask = self.saved_tensors
        float_mask = mask[0] if mask else None
        probabilities = self._differentiable_probabilities(q, k, float_mask, blocked)
        weights = probabilities if keep is None else probabilities * keep
        grad_v = matmul(weights.mT, grad)
        grad_weights = matmul(grad, v.mT)
        grad_probabilities = grad_weights if keep is None else grad_weights * keep
        grad_scores = probabilities * (grad_probabilities - (grad_probabilities * probabilities).sum(-1, keepdim=True))
        grad_q = matmul(grad_scores, k) * self.scale
        grad_k = matmul(grad_scores.mT, q) * self.scale
        return (grad_q, grad_k, grad_v) + ((grad_scores,) if float_mask is not None else ())

    def _differentiable_probabilities(self, q, k, float_mask, blocked):
        """``P`` recomputed with Ember ops: masked positions get 0 and no gradient, the row maximum is a
        constant shift, a fully masked row stays 0."""
        scores = matmul(q, k.mT) * self.scale
        if float_mask is not None:
            scores = scores + float_mask
        xp = get_array_module(scores.array)
        blocked_array = None if blocked is None else blocked.array
        if float_mask is not None and xp.isneginf(float_mask.array).any():
            mask_blocked = xp.isneginf(float_mask.array)
            blocked_array = mask_blocked if blocked_array is None else blocked_array | mask_blocked
        if blocked_array is None:
            shifted = scores - Tensor(scores.array.max(axis=-1, keepdims=True))
            unnormalised = exp(shifted)
        else:
            blocked_array = xp.broadcast_to(blocked_array, scores.shape)
            allowed = Tensor(~blocked_array)
            row_max = xp.where(blocked_array, -np.inf, scores.array).max(axis=-1, keepdims=True)
            row_max = Tensor(xp.where(xp.isneginf(row_max), 0, row_max).astype(scores.dtype))
            # blocked positions read the row maximum (exp(0) = 1, never an overflow) and are then set to 0
            unnormalised = where(allowed, exp(where(allowed, scores, row_max) - row_max), 0.0)
        total = unnormalised.sum(-1, keepdim=True)
        total = total + Tensor((total.array == 0).astype(total.dtype))
        return unnormalised / total

    def backward_arrays(self, grad):
        q, k, v, probabilities, output, _, keep, *mask = self.saved_arrays
        if type(grad) is not np.ndarray:
            return None
        xp = np
        needs = self.needs_input_grad
        scale = q.dtype.type(self.scale)
        grad_v = None
        if needs[2]:
            weights = probabilities if keep is None else probabilities * keep
            transposed = xp.swapaxes(weights, -1, -2)
            grad_v = xp.matmul(transposed, grad, out=_like_input(v, transposed, grad))
            del transposed
            del weights
        grad_probabilities = xp.matmul(grad, xp.swapaxes(v, -1, -2))
        kernels = None if mask else compiled.for_arrays(grad_probabilities, probabilities, output)
        if kernels is not None and grad_probabilities.flags.c_contiguous and probabilities.flags.c_contiguous:
            # dS * scale in one pass (the float mask's gradient, dS itself, takes the NumPy chain)
            if keep is not None:
                grad_probabilities *= keep
            columns = grad_probabilities.shape[-1]
            row_dot = np.ascontiguousarray(_row_sums(grad * output))
            kernels.softmax_rows_grad(grad_probabilities.reshape(-1, columns), probabilities.reshape(-1, columns),
                                      row_dot, self.scale)
            grad_scores, scale = grad_probabilities, None
        else:
            grad_scores = _scores_into_grad(grad_probabilities, probabilities, grad, output, keep)
        grad_q = grad_k = None
        if needs[0]:
            grad_q = xp.matmul(grad_scores, k, out=_like_input(q, grad_scores, k))
            if scale is not None:
                grad_q *= scale
        if needs[1]:
            transposed = xp.swapaxes(grad_scores, -1, -2)
            grad_k = xp.matmul(transposed, q, out=_like_input(k, transposed, q))
            if scale is not None:
                grad_k *= scale
        if mask:
            return grad_q, grad_k, grad_v, grad_scores
        return grad_q, grad_k, grad_v


def _like_input(array, left, right):
    """An empty array for the product ``left @ right`` laid out in memory as the input ``array`` it is the
    gradient of (q, k and v are often transposed views of one projection: their gradients then go back
    through the transposes and reshapes without copies); None (a new C-contiguous array) when the product's
    shape differs from ``array``'s (broadcast batch dims), ``array`` is C-contiguous already or its last axis
    is not its fastest."""
    shape = np.broadcast_shapes(left.shape[:-2], right.shape[:-2]) + (left.shape[-2], right.shape[-1])
    if shape != array.shape or array.flags.c_contiguous or array.dtype != np.result_type(left, right):
        return None
    order = memory_order(array)
    if order[-1] != array.ndim - 1:  # BLAS writes rows: the last axis must stay the fastest
        return None
    return empty_ordered(np, shape, order, array.dtype)


# ------------------------------------------------------------------------------------------- wrapper
def _check_mask(attn_mask, query: Tensor, target_shape) -> None:
    name = "scaled_dot_product_attention"
    if not isinstance(attn_mask, Tensor):
        raise TypeError(f"{name}: attn_mask must be a Tensor (bool or {query.dtype}), received "
                        f"{type(attn_mask).__name__}")
    if attn_mask.dtype != np.bool_ and attn_mask.dtype != query.dtype:
        raise TypeError(f"{name}: expected a bool attn_mask or one of the query's dtype {query.dtype}, received "
                        f"dtype {attn_mask.dtype}")
    try:
        shape = np.broadcast_shapes(attn_mask.shape, target_shape)
    except ValueError:
        shape = None
    if shape != tuple(target_shape):
        raise ValueError(f"{name}: attn_mask of shape {attn_mask.shape} cannot be broadcast to the attention "
                         f"weights' shape {tuple(target_shape)} (..., L, S)")


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, as ``torch.nn.functional.scaled_dot_product_attention``.

    Shape: query ``(..., L, E)``, key ``(..., S, E)``, value ``(..., S, Ev)`` → ``(..., L, Ev)``; leading dims
    broadcast. ``attn_mask`` broadcastable to ``(..., L, S)``: bool (True: may attend) or float of the query's
    dtype (added to the scores; it gets a gradient). ``is_causal``: position i attends to 0..i (top-left
    aligned when L != S); not combined with ``attn_mask``. ``scale``: default ``1 / sqrt(E)``. ``dropout_p``:
    dropout on the probabilities (applied whenever it is > 0, as in PyTorch; pass 0 in evaluation).
    A row whose every position is masked gives zeros, where PyTorch gives NaN.
    """
    name = "scaled_dot_product_attention"
    for label, tensor in (("query", query), ("key", key), ("value", value)):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{name}: {label} must be a Tensor, received {type(tensor).__name__}")
        if tensor.ndim < 2:
            raise ValueError(f"{name}: {label} needs at least 2 dims (..., length, features), received shape "
                             f"{tensor.shape}")
        if tensor.dtype.kind != "f":
            raise TypeError(f"{name}: expected floating tensors, received {label} of dtype {tensor.dtype}")
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(f"{name}: expected query, key and value of one dtype, received {query.dtype}, {key.dtype} "
                        f"and {value.dtype}")
    if enable_gqa:
        raise NotImplementedError(f"{name}: enable_gqa=True (grouped-query attention) is not supported")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{name}: query and key need the same last dim E, received shapes {query.shape} and "
                         f"{key.shape}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{name}: key and value need the same length S (dim -2), received shapes {key.shape} "
                         f"and {value.shape}")
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch dims of query {query.shape}, key {key.shape} and value {value.shape} "
                         "cannot be broadcast together") from None
    if not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], received {dropout_p!r}")
    rows, columns = query.shape[-2], key.shape[-2]
    weights_shape = (*batch, rows, columns)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    xp = get_array_module(query.array)
    blocked = None
    float_mask = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: pass either attn_mask or is_causal=True, not both (PyTorch refuses it too)")
        blocked = _causal_blocked(xp, rows, columns)
    elif attn_mask is not None:
        _check_mask(attn_mask, query, weights_shape)
        if attn_mask.dtype == np.bool_:
            blocked = xp.logical_not(attn_mask.array)
        else:
            float_mask = attn_mask
    keep = _scaled_keep_mask(weights_shape, float(dropout_p), query.array) if dropout_p > 0 else None
    node = ScaledDotProductAttention(float(scale), blocked, keep)
    if float_mask is None:
        return node(query, key, value)
    return node(query, key, value, float_mask)


__all__ = ["scaled_dot_product_attention"]
