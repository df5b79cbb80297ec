"""Indexing: ``x[key]`` with ints, slices, None, Ellipsis, boolean masks and integer arrays; gather,
index_select, masked_fill, one_hot, nonzero, tril/triu and topk.

The gradient of an index is a scatter: plain assignment when no position can repeat (basic indexing and
masks), a sorted segment sum when integer arrays may repeat positions (never ``np.add.at``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ..backend.scatter import scatter_add_rows
from ._convert import normalize_axis
from .reduction import ValuesIndices


def _normalize_key(key, xp):
    """Turn Tensors and sequences inside an index key into arrays; report whether integer arrays occur.

    As in NumPy and PyTorch, a tuple *inside* the key (``x[:, (1, 1)]``) is a sequence of indices, like a list.
    """
    parts = key if isinstance(key, tuple) else (key,)
    converted = []
    has_integer_array = False
    for part in parts:
        if isinstance(part, Tensor):
            part = part.array
        elif isinstance(part, (list, tuple)):
            part = xp.asarray(part)
            if part.size == 0:  # x[[]] selects nothing; NumPy would read [] as float64
                part = part.astype(np.int64)
        if hasattr(part, "dtype") and getattr(part, "ndim", 0) >= 0 and not isinstance(part, (np.generic,)):
            if part.dtype == np.bool_:
                pass
            elif part.dtype.kind in "iu":
                if part.ndim == 0:
                    part = int(part)
                else:
                    has_integer_array = True
            else:
                raise IndexError(f"index: tensors used as indices must be integer or bool, received {part.dtype}")
        elif isinstance(part, np.generic):
            part = part.item()
        converted.append(part)
    return tuple(converted), has_integer_array


class Index(Primitive):
    def __init__(self, key, accumulate: bool):
        self.key, self.accumulate = key, accumulate

    def forward(self, x):
        self.input_shape = x.shape
        return x[self.key]

    def backward(self, grad):
        return IndexGrad(self.key, self.accumulate, self.input_shape)(grad)


class IndexGrad(Primitive):
    """Scatter ``grad`` into zeros of the input's shape at ``key`` (adding where positions repeat)."""

    def __init__(self, key, accumulate: bool, shape):
        self.key, self.accumulate, self.shape = key, accumulate, shape

    def forward(self, grad):
        xp = get_array_module(grad)
        if not self.accumulate:
            out = xp.zeros(self.shape, dtype=grad.dtype)
            out[self.key] = grad
            return out
        leading = _leading_integer_arrays(self.key)
        if leading:  # x[idx] or x[i, j, :]: whole rows repeat (an embedding lookup), scatter rows
            return _scatter_leading_rows(xp, leading, grad, self.shape)
        size = int(np.prod(self.shape, dtype=np.int64))
        positions = xp.arange(size).reshape(self.shape)[self.key].reshape(-1)
        flat = scatter_add_rows(positions, grad.reshape(-1), size)
        return flat.reshape(self.shape)

    def backward(self, grad):
        return Index(self.key, self.accumulate)(grad)


def _leading_integer_arrays(key):
    """The integer arrays of a key made of integer arrays followed only by full slices, else None."""
    arrays: list = []
    for position, part in enumerate(key):
        if isinstance(part, slice):
            if part != slice(None):
                return None
        elif hasattr(part, "dtype") and part.dtype.kind in "iu" and len(arrays) == position:
            arrays.append(part)
        else:
            return None
    return arrays


def _scatter_leading_rows(xp, arrays, grad, shape):
    """``out[arrays] += grad`` where ``arrays`` index the leading ``len(arrays)`` axes of ``shape``."""
    count = len(arrays)
    lead = shape[:count]
    normalized = [xp.where(a < 0, a + n, a) for a, n in zip(arrays, lead)]
    if count == 1:
        rows = normalized[0].reshape(-1)
    else:
        rows = xp.ravel_multi_index(xp.broadcast_arrays(*normalized), lead).reshape(-1)
    num_rows = int(np.prod(lead, dtype=np.int64))
    values = grad.reshape((rows.size,) + tuple(shape[count:]))
    return scatter_add_rows(rows, values, num_rows).reshape(shape)


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]`` (NumPy semantics); the gradient scatters back, summing repeated positions."""
    xp = get_array_module(x.array)
    key, has_integer_array = _normalize_key(key, xp)
    try:
        return Index(key, has_integer_array)(x)
    except IndexError as error:
        raise IndexError(f"index: {error} (tensor shape {x.shape})") from None


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value`` in place (not recorded: the tensor must not require grad while recording)."""
    x._check_inplace("__setitem__")
    xp = get_array_module(x.array)
    key, _ = _normalize_key(key, xp)
    x.array[key] = value.array if isinstance(value, Tensor) else value


class ScatterAlongAxis(Primitive):
    """Put (or add, for repeated indices) ``values`` into zeros of ``shape`` along ``axis`` at ``indices``."""

    def __init__(self, indices, axis: int, shape, accumulate: bool):
        self.indices, self.axis, self.shape, self.accumulate = indices, axis, tuple(shape), accumulate

    def forward(self, values):
        xp = get_array_module(values)
        if not self.accumulate:
            out = xp.zeros(self.shape, dtype=values.dtype)
            xp.put_along_axis(out, self.indices, values, axis=self.axis)
            return out
        positions = _linear_positions(xp, self.indices, self.axis, self.shape)
        size = int(np.prod(self.shape, dtype=np.int64))
        return scatter_add_rows(positions.reshape(-1), values.reshape(-1), size).reshape(self.shape)

    def backward(self, grad):
        return Gather(self.indices, self.axis)(grad)


def _linear_positions(xp, indices, axis, shape):
    """Flat positions in an array of ``shape`` addressed by ``indices`` along ``axis`` (other axes by place)."""
    grids = list(xp.ogrid[tuple(slice(0, n) for n in indices.shape)])
    grids[axis] = indices
    strides = np.cumprod((1,) + tuple(shape[::-1]))[-2::-1]
    position = 0
    for grid, stride in zip(grids, strides):
        position = position + grid * int(stride)
    return position


class Gather(Primitive):
    def __init__(self, indices, axis: int):
        self.indices, self.axis = indices, axis

    def forward(self, x):
        self.input_shape = x.shape
        if self.indices.shape != x.shape:  # PyTorch lets the index be smaller than x outside the gather axis
            x = x[tuple(slice(None) if d == self.axis else slice(0, n) for d, n in enumerate(self.indices.shape))]
        return get_array_module(x).take_along_axis(x, self.indices, axis=self.axis)

    def backward(self, grad):
        return ScatterAlongAxis(self.indices, self.axis, self.input_shape, accumulate=True)(grad)


def scatter_along_axis(values: Tensor, indices, axis: int, shape) -> Tensor:
    """Place ``values`` at ``indices`` (unique per slice) along ``axis`` in zeros of ``shape``."""
    return ScatterAlongAxis(indices, axis, shape, accumulate=False)(values)


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` for ``dim=1`` (PyTorch's gather); index is int64."""
    (axis,) = normalize_axis(dim, x.ndim, "gather")
    indices = index.array if isinstance(index, Tensor) else get_array_module(x.array).asarray(index)
    if indices.ndim != x.ndim:
        raise ValueError(f"gather: index has {indices.ndim} dims {indices.shape}, input has {x.ndim} {x.shape}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, received {indices.dtype}")
    for d, (size, limit) in enumerate(zip(indices.shape, x.shape)):
        if d != axis and size > limit:
            raise ValueError(
                f"gather: index shape {indices.shape} exceeds input shape {x.shape} in dim {d} (only dim {axis} may)"
            )
    if indices.size and (indices.min() < 0 or indices.max() >= x.shape[axis]):
        raise IndexError(
            f"gather: index values must lie in [0, {x.shape[axis]}) for dim {dim}, received min {indices.min()} "
            f"max {indices.max()}"
        )
    return Gather(indices, axis)(x)


def index_select(x: Tensor, dim: int, index) -> Tensor:
    """Select entries ``index`` (1-d int) along ``dim``."""
    (axis,) = normalize_axis(dim, x.ndim, "index_select")
    indices = index.array if isinstance(index, Tensor) else np.asarray(index)
    if indices.ndim != 1:
        raise ValueError(f"index_select: index must be 1-d, received shape {indices.shape}")
    return getitem(x, (slice(None),) * axis + (indices,))


def take_along_dim(x: Tensor, indices: Tensor, dim: int) -> Tensor:
    return gather(x, dim, indices)


def _check_fill_value(op: str, value):
    """A Python number or a 0-d tensor, as PyTorch's ``masked_fill`` accepts."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"{op}: the value must be a number or a 0-d tensor, received a tensor of shape "
                             f"{value.shape}")
    elif not isinstance(value, (bool, int, float, np.number, np.bool_)):
        raise TypeError(f"{op}: the value must be a number or a 0-d tensor, received {type(value).__name__}")


def _check_mask(op: str, mask) -> Any:
    """The mask's bool array; PyTorch refuses masks of any other dtype."""
    array = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{op}: the mask must be a bool tensor, received dtype {array.dtype} "
                        "(use mask.bool() or a comparison such as mask == 0)")
    return array


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """``value`` where the bool ``mask`` is True, ``x`` elsewhere; mask and x broadcast together.

    ``value`` is a number (``float("-inf")`` for attention masks) or a 0-d tensor, which receives the gradient
    of the filled positions. The result has ``x``'s dtype.
    """
    from .elementwise import to_dtype, where

    mask_array = _check_mask("masked_fill", mask)
    _check_fill_value("masked_fill", value)
    try:
        np.broadcast_shapes(x.shape, mask_array.shape)
    except ValueError:
        raise ValueError(f"masked_fill: mask of shape {mask_array.shape} cannot be broadcast with the input's "
                         f"shape {x.shape}") from None
    if isinstance(value, Tensor):
        fill = to_dtype(value, x.dtype)
    else:
        fill = Tensor(get_array_module(x.array).asarray(value).astype(x.dtype))
    return where(Tensor(mask_array), fill, x)


def masked_fill_(x: Tensor, mask, value) -> Tensor:
    """In place: write ``value`` where ``mask`` is True into ``x`` (mask broadcasts to x's shape); returns x."""
    mask_array = _check_mask("masked_fill_", mask)
    _check_fill_value("masked_fill_", value)
    try:
        valid = np.broadcast_shapes(x.shape, mask_array.shape) == x.shape
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"masked_fill_: mask of shape {mask_array.shape} cannot be broadcast to the input's "
                         f"shape {x.shape}")
    x._check_inplace("masked_fill_")
    fill = value.array if isinstance(value, Tensor) else value
    xp = get_array_module(x.array)
    xp.copyto(x.array, xp.asarray(fill).astype(x.dtype), where=xp.broadcast_to(mask_array, x.shape))
    return x


class Triangle(Primitive):
    """Keep the lower (``tril``) or upper (``triu``) triangle of the last two dims, zeros elsewhere; the
    gradient keeps the same triangle."""

    def __init__(self, diagonal: int, upper: bool):
        self.diagonal, self.upper = diagonal, upper

    def forward(self, x):
        xp = get_array_module(x)
        return xp.triu(x, self.diagonal) if self.upper else xp.tril(x, self.diagonal)

    def backward(self, grad):
        return Triangle(self.diagonal, self.upper)(grad)


def _triangle(op: str, x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        raise ValueError(f"{op}: expected a tensor of at least 2 dimensions, received shape {x.shape}")
    if not isinstance(diagonal, (int, np.integer)) or isinstance(diagonal, bool):
        raise TypeError(f"{op}: diagonal must be an int, received {diagonal!r}")
    return Triangle(int(diagonal), upper)(x)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (batched): ``x[..., i, j]`` where ``j - i <= diagonal``, else 0."""
    return _triangle("tril", x, diagonal, upper=False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (batched): ``x[..., i, j]`` where ``j - i >= diagonal``, else 0."""
    return _triangle("triu", x, diagonal, upper=True)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """The ``k`` largest (or smallest) entries along ``dim``: ``(values, indices)``, both of shape ``x.shape``
    with ``dim`` of size ``k``; indices are int64; values are differentiable (the gradient flows to the chosen
    entries).

    Returns a ``ValuesIndices`` pair (typed ``Any``, as ``max``). Order: largest first (smallest first with
    ``largest=False``); among equal values the lower index comes first, and NaN counts as larger than every
    number, as in PyTorch. ``sorted=False`` returns the same order.
    """
    (axis,) = normalize_axis(dim, x.ndim, "topk")  # a 0-d tensor has dims 0 and -1
    length = x.shape[axis] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= length:
        raise ValueError(f"topk: k must be an int in [0, {length}] for dim {dim} of shape {x.shape}, received {k!r}")
    xp = get_array_module(x.array)
    if x.ndim == 0:  # PyTorch returns the value itself and index 0, for k of 0 or 1
        return ValuesIndices(x, Tensor(xp.zeros((), dtype=np.int64)))
    data = x.array.astype(np.int8) if x.dtype == np.bool_ else x.array
    has_nan = data.dtype.kind == "f" and bool(xp.isnan(data).any())
    if k and 8 * k <= x.shape[axis] and not has_nan:
        indices = _top_k_partitioned(xp, data, axis, k, largest)
    else:
        indices = _top_order(xp, data, axis, largest)[(slice(None),) * axis + (slice(0, k),)]
    indices = indices.astype(np.int64)
    return ValuesIndices(Gather(indices, axis)(x), Tensor(indices))


def _sort_key(data, largest: bool):
    """Values whose ascending order is the order topk wants (NaN aside): ``~x`` for integers decreases as x
    grows, without the overflow of ``-x``."""
    if not largest:
        return data
    return ~data if data.dtype.kind in "iu" else -data


def _top_order(xp, data, axis: int, largest: bool):
    """Indices that sort ``data`` along ``axis``, largest (or smallest) first, equal values in index order,
    NaN counted as the largest value."""
    order = xp.argsort(_sort_key(data, largest), axis=axis, kind="stable")  # NumPy sorts NaN last
    if not largest or data.dtype.kind != "f":
        return order
    is_number = ~xp.isnan(xp.take_along_axis(data, order, axis=axis))  # move the NaNs to the front, in order
    return xp.take_along_axis(order, xp.argsort(is_number, axis=axis, kind="stable"), axis=axis)


def _top_k_partitioned(xp, data, axis: int, k: int, largest: bool):
    """The first ``k`` of ``_top_order`` (no NaN in ``data``) in O(n + k log k) per row instead of a full
    sort: partition to find the k-th key, keep the keys before it and the first of its ties in index order,
    then sort those k stably."""
    key = xp.moveaxis(_sort_key(data, largest), axis, -1)
    kth = xp.partition(key, k - 1, axis=-1)[..., k - 1 : k]
    before = key < kth
    tied = key == kth
    room = k - before.sum(axis=-1, keepdims=True)
    chosen = before | (tied & (xp.cumsum(tied, axis=-1) <= room))
    positions = xp.nonzero(chosen)[-1].reshape(key.shape[:-1] + (k,))  # row by row, in index order
    order = xp.argsort(xp.take_along_axis(key, positions, axis=-1), axis=-1, kind="stable")
    return xp.moveaxis(xp.take_along_axis(positions, order, axis=-1), -1, axis)


def nonzero(x: Tensor, as_tuple: bool = False) -> Any:
    """Indices of non-zero elements: an (n, ndim) int64 tensor, or a tuple of 1-d tensors with ``as_tuple``
    (typed ``Any``: which of the two depends on ``as_tuple``)."""
    xp = get_array_module(x.array)
    found = xp.nonzero(x.array)
    if as_tuple:
        return tuple(Tensor(axis.astype(np.int64)) for axis in found)
    return Tensor(xp.stack(found, axis=1).astype(np.int64) if found else xp.zeros((0, 0), dtype=np.int64))


def one_hot(labels: Tensor, num_classes: int = -1) -> Tensor:
    """One-hot encode int64 ``labels`` (shape ``S``) into shape ``S + (num_classes,)`` int64."""
    data = labels.array if isinstance(labels, Tensor) else np.asarray(labels)
    xp = get_array_module(data)
    if data.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, received dtype {data.dtype}")
    if num_classes < 0:
        num_classes = int(data.max()) + 1 if data.size else 0
    if data.size and (data.min() < 0 or data.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), received min {data.min()} max {data.max()}")
    out = xp.zeros(data.shape + (num_classes,), dtype=np.int64)
    xp.put_along_axis(out, data[..., None].astype(np.int64), 1, axis=-1)
    return Tensor(out)


__all__ = [
    "getitem", "setitem", "gather", "index_select", "take_along_dim", "masked_fill", "nonzero", "one_hot",
    "scatter_along_axis", "masked_fill_", "tril", "triu", "topk",
]
