"""Reductions: sum, mean, var/std, max/min (values and indices), prod, logsumexp, norm, cumsum, argmax.

``dim`` may be an int, a tuple or None (all axes); NumPy's ``axis``/``keepdims`` are accepted as aliases.
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..autograd.broadcast import SumTo, sum_to  # noqa: F401 - re-exported
from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ._convert import normalize_axis, pick_dim, pick_keepdim


def _reduction_axes(op: str, dim, x: Tensor):
    """``dim`` as a tuple of axes, or None for all. As in PyTorch, an empty tuple also means all dims, and a
    0-d tensor accepts dim 0 or -1."""
    axes = normalize_axis(dim, x.ndim, op)
    return None if x.ndim == 0 or axes == () else axes


def _check_extreme_over_empty(op: str, x: Tensor, axes, dims_as_given=None) -> None:
    """PyTorch's errors for a maximum, minimum or arg-extreme over nothing: over all of an empty tensor, or
    along a dim of size 0 (a dim of size 0 elsewhere just gives an empty result). ``dims_as_given``: the dims
    as the caller wrote them, which ``amax``/``amin`` quote (the others quote the dim counted from 0)."""
    if x.numel() != 0:
        return
    if axes is None:
        if op in ("argmax", "argmin"):
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                           f"Specify the reduction dim with the 'dim' argument.")
    quoted = axes if dims_as_given is None else dims_as_given
    for axis, dim in zip(axes, quoted):
        if x.shape[axis] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")


def _as_given(dim) -> tuple:
    return tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)


def _restore_reduced_axes(grad: Tensor, axes, ndim: int, keepdims: bool) -> Tensor:
    """Re-insert reduced axes (size 1) so that ``grad`` broadcasts against the input."""
    if keepdims or (axes is None and grad.ndim == ndim):
        return grad
    if axes is None:
        return grad.reshape((1,) * ndim)
    shape = list(grad.shape)
    for axis in sorted(axes):
        shape.insert(axis, 1)
    return grad.reshape(tuple(shape))


class Sum(Primitive):
    def __init__(self, axes, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.input_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad):
        grad = _restore_reduced_axes(grad, self.axes, len(self.input_shape), self.keepdims)
        return grad.expand(self.input_shape)


class Prod(Primitive):
    def __init__(self, axes, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.save_for_backward(x)
        return x.prod(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad):
        (x,) = self.saved_tensors
        grad = _restore_reduced_axes(grad, self.axes, x.ndim, self.keepdims)
        # product of all other elements, without dividing (exact where x has zeros)
        axes = tuple(range(x.ndim)) if self.axes is None else self.axes
        order = [a for a in range(x.ndim) if a not in axes] + list(axes)
        moved = x.permute(*order)
        kept_shape = moved.shape[: x.ndim - len(axes)]
        exclusive = _exclusive_products(moved.reshape(*kept_shape, -1))
        others = exclusive.reshape(moved.shape).permute(*np.argsort(order).tolist())
        return grad * others


def _exclusive_products(flat: Tensor) -> Tensor:
    """For each position along the last axis, the product of all other positions (differentiable)."""
    n = flat.shape[-1]
    ones = Tensor(get_array_module(flat.array).ones(flat.shape[:-1] + (1,), dtype=flat.dtype))
    before = cumprod_last(flat[..., : n - 1])
    after = cumprod_last(flat[..., :0:-1]).flip(-1)
    from .shape import cat

    return cat([ones, before], -1) * cat([after, ones], -1)


class CumProdLast(Primitive):
    """Cumulative product along the last axis (used by prod's backward, which it makes exact at zeros).

    Its backward is exact where inputs are zero, so prod's first and second derivatives are exact there; past
    a row's first zero the gradient is the constant 0, so the derivative of that gradient with respect to the
    zero itself (a third derivative of prod) is not recorded.
    """

    def forward(self, x):
        y = get_array_module(x).cumprod(x, axis=-1)
        self.save_for_backward(x, y)
        return y

    def backward(self, grad):
        x, y = self.saved_tensors
        from .elementwise import where

        # d y_j / d x_i = prod_{k <= j, k != i} x_k for j >= i. Before a row's first zero z this is y_j / x_i
        # (a reverse cumulative sum of grad * y, divided by x); at z it is the cumulative product with x_z
        # replaced by 1; after z every term holds the factor x_z = 0.
        xp = get_array_module(x.array)
        is_zero = x.array == 0
        if not is_zero.any():
            return (grad * y).flip(-1).cumsum(-1).flip(-1) / x
        position = xp.arange(x.shape[-1])
        first_zero = xp.where(is_zero.any(-1, keepdims=True), xp.argmax(is_zero, -1)[..., None], x.shape[-1])
        before, at_zero = position < first_zero, position == first_zero
        one = Tensor(xp.ones((), dtype=x.dtype))
        zero = Tensor(xp.zeros((), dtype=x.dtype))
        prefix = (grad * y).flip(-1).cumsum(-1).flip(-1) / where(before, x, one)
        products_without_zero = cumprod_last(where(at_zero, one, x))
        at_zero_grad = where(position >= first_zero, grad * products_without_zero, zero).sum(-1, keepdim=True)
        return where(before, prefix, where(at_zero, at_zero_grad, zero))


def cumprod_last(x: Tensor) -> Tensor:
    if x.shape[-1] == 0:
        return x
    return CumProdLast()(x)


class CumSum(Primitive):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, grad):
        return grad.flip(self.axis).cumsum(self.axis).flip(self.axis)


class MaxMin(Primitive):
    """``max``/``min`` over axes; the gradient goes to the selected elements, split evenly among ties."""

    def __init__(self, axes, keepdims: bool, find_max: bool):
        self.axes, self.keepdims, self.find_max = axes, keepdims, find_max

    def forward(self, x):
        xp = get_array_module(x)
        reduce = xp.max if self.find_max else xp.min
        y = reduce(x, axis=self.axes, keepdims=True)
        selected = x == y
        self.save_for_backward(selected)
        self.input_ndim = x.ndim
        return y if self.keepdims else y.reshape(_drop_axes(y.shape, self.axes))

    def backward(self, grad):
        (selected,) = self.saved_tensors
        weights = selected.array.astype(grad.dtype)
        weights /= weights.sum(axis=self.axes, keepdims=True)
        grad = _restore_reduced_axes(grad, self.axes, self.input_ndim, self.keepdims)
        return grad * Tensor(weights)


class MaxMinAlongDim(Primitive):
    """``max(x, dim)``/``min(x, dim)`` returning (values, indices); the gradient goes to the returned index."""

    def __init__(self, axis: int, keepdims: bool, find_max: bool):
        self.axis, self.keepdims, self.find_max = axis, keepdims, find_max

    def forward(self, x):
        xp = get_array_module(x)
        indices = (xp.argmax if self.find_max else xp.argmin)(x, axis=self.axis)
        indices = xp.expand_dims(indices, self.axis)
        values = xp.take_along_axis(x, indices, axis=self.axis)
        self.save_for_backward(indices)
        self.input_shape = x.shape
        if not self.keepdims:
            values = values.squeeze(self.axis)
            indices = indices.squeeze(self.axis)
        return values, indices.astype(np.int64, copy=False)

    def backward(self, grad_values, grad_indices):
        (indices,) = self.saved_tensors
        if not self.keepdims:
            grad_values = grad_values.unsqueeze(self.axis)
        from .indexing import scatter_along_axis

        return scatter_along_axis(grad_values, indices.array, self.axis, self.input_shape)


def _drop_axes(shape, axes):
    if axes is None:
        return ()
    return tuple(size for axis, size in enumerate(shape) if axis not in axes)


class LogSumExp(Primitive):
    """``log(sum(exp(x)))`` computed stably (shift by the maximum)."""

    def __init__(self, axes, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:  # nothing to shift by; the sum of no terms is 0 and its log -inf, as in PyTorch
            shift = xp.zeros_like(x.sum(axis=self.axes, keepdims=True))
        else:
            shift = x.max(axis=self.axes, keepdims=True)
            shift = xp.where(xp.isfinite(shift), shift, xp.zeros_like(shift))
        with np.errstate(divide="ignore"):  # a row of -inf gives log(0) = -inf, which is the answer
            y = xp.asarray(xp.log(xp.exp(x - shift).sum(axis=self.axes, keepdims=True)) + shift)
        if not self.keepdims:
            y = y.reshape(_drop_axes(y.shape, self.axes))
        self.save_for_backward(x, y)
        self.input_ndim = x.ndim
        return y

    def backward(self, grad):
        x, y = self.saved_tensors
        from .elementwise import exp, where

        y = _restore_reduced_axes(y, self.axes, self.input_ndim, self.keepdims)
        grad = _restore_reduced_axes(grad, self.axes, self.input_ndim, self.keepdims)
        # rows that are all -inf have no mass to share: their gradient is 0, not exp(-inf + inf) = nan
        empty_rows = Tensor(y.array == -np.inf)
        safe_y = where(empty_rows, Tensor(get_array_module(y.array).zeros((), dtype=y.dtype)), y)
        return grad * exp(x - safe_y)


# ------------------------------------------------------------------------------------------- wrappers
def sum(x: Tensor, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (int, tuple, or None for all). Integer and bool inputs sum to int64, as in PyTorch."""
    axes = _reduction_axes("sum", pick_dim("sum", dim, axis), x)
    keep = pick_keepdim("sum", keepdim, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "biu":
        x = x.to(np.int64)
    return Sum(axes, keep)(x)


def mean(x: Tensor, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None) -> Tensor:
    """Arithmetic mean over ``dim``; needs a floating tensor (or ``dtype=``)."""
    axes = _reduction_axes("mean", pick_dim("mean", dim, axis), x)
    keep = pick_keepdim("mean", keepdim, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: expected a floating tensor, received dtype {x.dtype}; pass dtype=ember.float32")
    count = _count(x.shape, axes)
    result = Sum(axes, keep)(x) / float(count) if count else Sum(axes, keep)(x) * float("nan")
    if result.creator is not None:
        # printed as PyTorch's grad_fn=<MeanBackward0> (all elements) or <MeanBackward1> (along dims)
        result.creator.display_name = "Mean" if axes is None else "MeanDim"
    return result


def _count(shape, axes) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None, ddof=None) -> Tensor:
    """Variance over ``dim``; unbiased (correction=1) unless ``correction=0`` or ``unbiased=False``."""
    axes = _reduction_axes("var", pick_dim("var", dim, axis), x)
    keep = pick_keepdim("var", keepdim, keepdims)
    if isinstance(unbiased, bool) is False and unbiased is not None:
        raise TypeError(f"var: unbiased must be a bool, received {unbiased!r}")
    if ddof is not None:
        correction = ddof
    if correction is None:
        correction = 0 if unbiased is False else 1
    count = _count(x.shape, axes)
    centred = x - mean(x, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim=keep) / float(builtins.max(count - correction, 0))


def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None,
        keepdims=None, ddof=None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))`` with the same arguments."""
    return var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof).sqrt()


def _max_or_min(name: str, find_max: bool, x, dim, keepdim, axis, keepdims, other):
    if other is not None:  # ember.max(a, b) is the elementwise maximum, as in PyTorch
        from .elementwise import maximum, minimum

        return (maximum if find_max else minimum)(x, other)
    dim = pick_dim(name, dim, axis)
    keep = pick_keepdim(name, keepdim, keepdims)
    if isinstance(dim, Tensor):
        return _max_or_min(name, find_max, x, None, keep, None, None, dim)
    if dim is None or isinstance(dim, (tuple, list)):
        axes = _reduction_axes(name, dim, x)
        _check_extreme_over_empty(name, x, axes)
        return MaxMin(axes, keep, find_max)(x)
    (axis_,) = normalize_axis(dim, x.ndim, name)
    _check_extreme_over_empty(name, x, (axis_,))
    if x.ndim == 0:  # PyTorch: the value itself and index 0
        values, indices = MaxMinAlongDim(0, False, find_max)(x.reshape(1))
    else:
        values, indices = MaxMinAlongDim(axis_, keep, find_max)(x)
    return ValuesIndices(values, indices)


class ValuesIndices(tuple):
    """``(values, indices)`` with attribute access, as PyTorch's ``max(dim)``, ``min(dim)`` and ``topk`` return."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def max(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, other=None) -> Any:  # noqa: A001
    """Largest value: over everything (a 0-d tensor), over a tuple of dims, or ``max(x, dim)`` → (values, indices).

    ``max(a, b)`` with a Tensor ``b`` is the elementwise maximum. Typed ``Any``: a Tensor or a pair, by argument.
    """
    return _max_or_min("max", True, x, dim, keepdim, axis, keepdims, other)


def min(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None, other=None) -> Any:  # noqa: A001
    """Smallest value; same forms as ``max``."""
    return _max_or_min("min", False, x, dim, keepdim, axis, keepdims, other)


def amax(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Maximum over ``dim`` (int, tuple or None for all), values only; ties share the gradient."""
    dim = pick_dim("amax", dim, axis)
    axes = _reduction_axes("amax", dim, x)
    _check_extreme_over_empty("amax", x, axes, None if axes is None else _as_given(dim))
    return MaxMin(axes, pick_keepdim("amax", keepdim, keepdims), True)(x)


def amin(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Minimum over ``dim`` (int, tuple or None for all), values only; ties share the gradient."""
    dim = pick_dim("amin", dim, axis)
    axes = _reduction_axes("amin", dim, x)
    _check_extreme_over_empty("amin", x, axes, None if axes is None else _as_given(dim))
    return MaxMin(axes, pick_keepdim("amin", keepdim, keepdims), False)(x)


def prod(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    axes = _reduction_axes("prod", pick_dim("prod", dim, axis), x)
    return Prod(axes, pick_keepdim("prod", keepdim, keepdims))(x)


def cumsum(x: Tensor, dim: int, *, axis=None) -> Tensor:
    (axis_,) = normalize_axis(pick_dim("cumsum", dim, axis), x.ndim, "cumsum")
    return CumSum(axis_)(x) if x.ndim else x


def logsumexp(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """``log(sum(exp(x), dim))``, stable for large inputs."""
    from .elementwise import _floating

    axes = _reduction_axes("logsumexp", pick_dim("logsumexp", dim, axis), x)
    return LogSumExp(axes, pick_keepdim("logsumexp", keepdim, keepdims))(_floating(x))


def norm(x: Tensor, p=2, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default): ``p`` = 2, 1, inf, -inf, any positive number,
    ``"fro"`` (= 2) or 0 (the count of non-zero elements). The gradient at zero is zero for p=2, as in PyTorch."""
    from .elementwise import abs as absolute

    if x.dtype.kind != "f":
        raise TypeError(f"norm: expected a floating tensor, received dtype {x.dtype}")
    axes = _reduction_axes("norm", pick_dim("norm", dim, axis), x)
    keep = pick_keepdim("norm", keepdim, keepdims)
    if p == 0:  # the number of non-zero elements; piecewise constant, so no gradient
        return Tensor(get_array_module(x.array).asarray((x.array != 0).sum(axis=axes, keepdims=keep), dtype=x.dtype))
    if p == "fro" or p == 2:
        squared = sum(x * x, axes, keepdim=keep)
        return _SafeSqrt()(squared)
    if p == float("inf"):
        return amax(absolute(x), axes, keep)
    if p == float("-inf"):
        return amin(absolute(x), axes, keep)
    if p == 1:
        return sum(absolute(x), axes, keepdim=keep)
    if not isinstance(p, (int, float)) or p < 0:
        raise ValueError(f"norm: p must be a non-negative number, inf, -inf or 'fro', received {p!r}")
    return sum(absolute(x) ** p, axes, keepdim=keep) ** (1.0 / p)


class _SafeSqrt(Primitive):
    """sqrt whose gradient is 0 (not inf) at 0: the subgradient PyTorch's norm uses."""

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.sqrt(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        from .elementwise import where

        positive = y > 0
        safe = where(positive, y, y * 0 + 1)
        return where(positive, grad / (safe * 2.0), grad * 0)


def argmax(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Index of the largest value (over the flattened tensor when ``dim`` is None); int64, not differentiable."""
    return _arg_extreme("argmax", x, dim, keepdim, axis, keepdims)


def argmin(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    return _arg_extreme("argmin", x, dim, keepdim, axis, keepdims)


def _arg_extreme(name, x, dim, keepdim, axis, keepdims):
    xp = get_array_module(x.array)
    dim = pick_dim(name, dim, axis)
    keep = pick_keepdim(name, keepdim, keepdims)
    if dim is None:
        _check_extreme_over_empty(name, x, None)
    if dim is None or x.ndim == 0:
        if dim is not None:
            normalize_axis(dim, 0, name)
        result = getattr(xp, name)(x.array.reshape(-1))
        if keep:
            result = xp.asarray(result).reshape((1,) * x.ndim)
    else:
        (axis_,) = normalize_axis(dim, x.ndim, name)
        _check_extreme_over_empty(name, x, (axis_,))
        result = getattr(xp, name)(x.array, axis=axis_, keepdims=keep)
    return Tensor(xp.asarray(result, dtype=np.int64))


def any(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Whether any element over ``dim`` is non-zero (a bool tensor)."""
    axes = _reduction_axes("any", pick_dim("any", dim, axis), x)
    keep = pick_keepdim("any", keepdim, keepdims)
    return Tensor(get_array_module(x.array).asarray(x.array.any(axis=axes, keepdims=keep)))


def all(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Whether every element over ``dim`` is non-zero (a bool tensor)."""
    axes = _reduction_axes("all", pick_dim("all", dim, axis), x)
    keep = pick_keepdim("all", keepdim, keepdims)
    return Tensor(get_array_module(x.array).asarray(x.array.all(axis=axes, keepdims=keep)))


__all__ = [
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "prod", "cumsum", "logsumexp", "norm", "sum_to",
    "argmax", "argmin", "any", "all",
]
