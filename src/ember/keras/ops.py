"""``keras.ops``: the backend-neutral functions Keras 3 users write custom layers with, each a thin name for an
Ember function, with Keras 3's signatures and NumPy's semantics (``axis=``, ``keepdims=``).

    from ember import keras
    scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 2, 1))) / keras.ops.sqrt(16.0)
    weights = keras.ops.softmax(scores, axis=-1)

Inputs may be Tensors, NumPy arrays, lists or numbers (converted as ``convert_to_tensor`` does: Python floats
give float32, Python ints int32, as in Keras). Results are Ember Tensors, differentiable through Ember's
autograd wherever the underlying op is. Dtypes follow Keras 3 on its torch backend: ``argmax``, ``argmin`` and
``arange`` of ints give int32, ``top_k``'s indices int64, ``one_hot``, ``full`` and ``mean`` of ints float32.
"""
from __future__ import annotations

import builtins
import itertools
from typing import Any

import numpy as np

from .. import functions as F
from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend.device import get_array_module

_INT = np.dtype(np.int32)  # Keras' default integer dtype
_FLOAT = np.dtype(np.float32)  # Keras' floatx


# ------------------------------------------------------------------------------------------- conversion
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None) -> Tensor:
    """A Tensor of ``x`` (Tensor, array, list or number): Python floats give float32, ints int32, bools bool;
    NumPy arrays keep their dtype; a Tensor is returned as is (cast when ``dtype`` differs)."""
    if sparse or ragged:
        raise ValueError("keras.ops.convert_to_tensor: sparse and ragged tensors are not supported")
    if isinstance(x, Tensor):
        return x if dtype is None else cast(x, dtype)
    if isinstance(x, (np.ndarray, np.generic)):
        array = np.asarray(x)
    else:
        array = np.asarray(x)
        if array.dtype.kind == "f":
            array = array.astype(_FLOAT)
        elif array.dtype.kind in "iu":
            array = array.astype(_INT)
    if array.dtype == object:
        raise TypeError(f"keras.ops.convert_to_tensor: cannot convert a {type(x).__name__} to a tensor")
    if dtype is not None:
        array = array.astype(dtypes.to_numpy_dtype(dtype))
    return F.tensor(array)


def convert_to_numpy(x) -> np.ndarray:
    """The values of ``x`` as a NumPy array (copied from the GPU when needed)."""
    if isinstance(x, Tensor):
        return x.numpy()
    return np.asarray(x)


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _pair(x1, x2) -> tuple:
    """Two operands, at least one a Tensor; a number beside a Tensor stays a number (it takes the Tensor's
    dtype, as Keras' weak-typed scalars do)."""
    if not isinstance(x1, Tensor) and not isinstance(x2, Tensor):
        return _t(x1), _t(x2)
    if not isinstance(x1, Tensor) and not isinstance(x1, (int, float, bool)):
        x1 = _t(x1)
    if not isinstance(x2, Tensor) and not isinstance(x2, (int, float, bool)):
        x2 = _t(x2)
    return x1, x2


def _float(x: Tensor) -> Tensor:
    """Integer and bool tensors become float32, as Keras' math functions do."""
    return x if x.dtype.kind == "f" else x.to(_FLOAT)


def cast(x, dtype) -> Tensor:
    """``x`` in ``dtype`` (a name such as ``"float32"``, ``"int32"``, ``"bool"``, or a NumPy dtype);
    differentiable between floating dtypes. Floats cast to integers truncate toward zero."""
    return F.to_dtype(_t(x), dtypes.to_numpy_dtype(dtype))


def shape(x) -> tuple:
    """The shape as a tuple of ints."""
    return tuple(_t(x).shape)


# ------------------------------------------------------------------------------------------- creation
def _dtype(dtype, default):
    return default if dtype is None else dtypes.to_numpy_dtype(dtype)


def _shape_tuple(value) -> tuple:
    return (int(value),) if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


def ones(shape, dtype=None) -> Tensor:
    return F.ones(_shape_tuple(shape), dtype=_dtype(dtype, _FLOAT))


def zeros(shape, dtype=None) -> Tensor:
    return F.zeros(_shape_tuple(shape), dtype=_dtype(dtype, _FLOAT))


def full(shape, fill_value, dtype=None) -> Tensor:
    """``shape`` filled with ``fill_value``; float32 unless ``dtype`` (an int value too, as in Keras)."""
    return F.full(_shape_tuple(shape), fill_value, dtype=_dtype(dtype, _FLOAT))


def ones_like(x, dtype=None) -> Tensor:
    x = _t(x)
    return F.ones(x.shape, dtype=_dtype(dtype, x.dtype), device=x.device)


def zeros_like(x, dtype=None) -> Tensor:
    x = _t(x)
    return F.zeros(x.shape, dtype=_dtype(dtype, x.dtype), device=x.device)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """``[start, stop)`` by ``step``; int32 for integer arguments, float32 otherwise (Keras' defaults)."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        integral = builtins.all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = _INT if integral else _FLOAT
    return F.arange(start, stop, step, dtype=dtypes.to_numpy_dtype(dtype))


def eye(N, M=None, k=0, dtype=None) -> Tensor:  # noqa: N803 - Keras' argument names
    """An (N, M) matrix with ones on diagonal ``k``; float32 unless ``dtype``."""
    return F.tensor(np.eye(N, M, k, dtype=_dtype(dtype, _FLOAT)))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0) -> Any:
    """``num`` evenly spaced values from ``start`` to ``stop`` (NumPy's ``linspace``); float32 unless ``dtype``.
    With ``retstep`` also the step, as a pair."""
    values, step = np.linspace(convert_to_numpy(start), convert_to_numpy(stop), num, endpoint=endpoint,
                               retstep=True, axis=axis)
    result = F.tensor(values.astype(_dtype(dtype, _FLOAT)))
    return (result, step) if retstep else result


# ------------------------------------------------------------------------------------------ elementwise
def _unary(function):
    def op(x):
        return function(_float(_t(x)))

    op.__name__ = op.__qualname__ = function.__name__
    op.__doc__ = f"``{function.__name__}`` elementwise; integer inputs give float32."
    return op


sin, cos, exp, log, sqrt, rsqrt = (_unary(f) for f in (F.sin, F.cos, F.exp, F.log, F.sqrt, F.rsqrt))
relu, sigmoid, tanh, erf = (_unary(f) for f in (F.relu, F.sigmoid, F.tanh, F.erf))


def square(x) -> Tensor:
    """``x * x`` (keeps integer dtypes)."""
    return F.square(_t(x))


def abs(x) -> Tensor:  # noqa: A001 - Keras' name
    return F.abs(_t(x))


def power(x1, x2) -> Tensor:
    """``x1 ** x2`` elementwise, broadcasting."""
    return F.pow(*_pair(x1, x2))


def maximum(x1, x2) -> Tensor:
    return F.maximum(*_pair(x1, x2))


def minimum(x1, x2) -> Tensor:
    return F.minimum(*_pair(x1, x2))


def clip(x, x_min, x_max) -> Tensor:
    """``x`` limited to ``[x_min, x_max]``; the gradient is zero where clipped."""
    return F.clamp(_t(x), x_min, x_max)


def silu(x) -> Tensor:
    """``x * sigmoid(x)``."""
    return F.silu(_float(_t(x)))


def gelu(x, approximate=True) -> Tensor:
    """GELU; Keras' ``ops.gelu`` defaults to the tanh approximation (``approximate=True``)."""
    return F.gelu(_float(_t(x)), approximate="tanh" if approximate else "none")


def softmax(x, axis=-1) -> Tensor:
    return F.softmax(_float(_t(x)), dim=axis)


def log_softmax(x, axis=-1) -> Tensor:
    return F.log_softmax(_float(_t(x)), dim=axis)


def equal(x1, x2) -> Tensor:
    return F.eq(*_pair(x1, x2))


def not_equal(x1, x2) -> Tensor:
    return F.ne(*_pair(x1, x2))


def greater(x1, x2) -> Tensor:
    return F.gt(*_pair(x1, x2))


def greater_equal(x1, x2) -> Tensor:
    return F.ge(*_pair(x1, x2))


def less(x1, x2) -> Tensor:
    return F.lt(*_pair(x1, x2))


def less_equal(x1, x2) -> Tensor:
    return F.le(*_pair(x1, x2))


def _bool(x) -> Tensor:
    x = _t(x)
    return x if x.dtype == np.bool_ else x.bool()


def logical_and(x1, x2) -> Tensor:
    return F.logical_and(_bool(x1), _bool(x2))


def logical_or(x1, x2) -> Tensor:
    return F.logical_or(_bool(x1), _bool(x2))


def logical_not(x) -> Tensor:
    return F.logical_not(_bool(x))


def where(condition, x1=None, x2=None) -> Any:
    """``x1`` where ``condition`` holds, else ``x2`` (broadcasting); with neither, the tuple of index tensors
    where ``condition`` holds."""
    condition = _bool(condition)
    if x1 is None and x2 is None:
        return F.where(condition)
    if (x1 is None) != (x2 is None):
        raise ValueError("keras.ops.where: pass both x1 and x2, or neither")
    return F.where(condition, *_pair(x1, x2))


# ----------------------------------------------------------------------------------------- reductions
def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - Keras' name
    """The sum; integers keep their dtype (bool and narrower ints give int32), as in Keras."""
    x = _t(x)
    result = F.sum(x, dim=_axis(axis), keepdim=keepdims)
    if x.dtype.kind in "biu":
        result = result.to(x.dtype if x.dtype.itemsize >= 4 and x.dtype.kind != "b" else _INT)
    return result


def mean(x, axis=None, keepdims=False) -> Tensor:
    """The mean; integer inputs give float32."""
    return F.mean(_float(_t(x)), dim=_axis(axis), keepdim=keepdims)


def max(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001 - Keras' name
    """The largest value over ``axis`` (None: all); ``initial`` joins the comparison."""
    result = F.amax(_t(x), dim=_axis(axis), keepdim=keepdims)
    return result if initial is None else F.maximum(result, initial)


def min(x, axis=None, keepdims=False, initial=None) -> Tensor:  # noqa: A001 - Keras' name
    result = F.amin(_t(x), dim=_axis(axis), keepdim=keepdims)
    return result if initial is None else F.minimum(result, initial)


def var(x, axis=None, keepdims=False) -> Tensor:
    """The population variance (NumPy's ``ddof=0``, as Keras); integer inputs give float32."""
    return F.var(_float(_t(x)), dim=_axis(axis), keepdim=keepdims, correction=0)


def std(x, axis=None, keepdims=False) -> Tensor:
    """The population standard deviation (``ddof=0``)."""
    return F.std(_float(_t(x)), dim=_axis(axis), keepdim=keepdims, correction=0)


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest value (first among ties), over the flattened tensor when ``axis`` is None; int32."""
    x = _t(x)
    if axis is None:
        result = F.argmax(x.reshape(-1), dim=0)
        return (result.reshape((1,) * x.ndim) if keepdims else result).to(_INT)
    return F.argmax(x, dim=axis, keepdim=keepdims).to(_INT)


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """Index of the smallest value (first among ties); int32."""
    x = _t(x)
    if axis is None:
        result = F.argmin(x.reshape(-1), dim=0)
        return (result.reshape((1,) * x.ndim) if keepdims else result).to(_INT)
    return F.argmin(x, dim=axis, keepdim=keepdims).to(_INT)


def cumsum(x, axis=None, dtype=None) -> Tensor:
    """Running sum along ``axis`` (of the flattened tensor when None)."""
    x = _t(x)
    if dtype is not None:
        x = cast(x, dtype)
    return F.cumsum(x.reshape(-1), 0) if axis is None else F.cumsum(x, axis)


def top_k(x, k, sorted=True) -> tuple:  # noqa: A002 - Keras' name
    """The ``k`` largest entries along the last axis: ``(values, indices)``, indices int64 (as Keras on its
    torch backend); among equal values the lower index comes first. Values are differentiable."""
    return tuple(F.topk(_t(x), k, dim=-1, largest=True, sorted=sorted))


# ---------------------------------------------------------------------------------------------- shape
def reshape(x, newshape) -> Tensor:
    return F.reshape(_t(x), _shape_tuple(newshape))


def transpose(x, axes=None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    x = _t(x)
    return F.permute(x, tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def expand_dims(x, axis) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple; positions in the result, negative from its end)."""
    x = _t(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    positions = sorted(a % ndim if -ndim <= a < ndim else _axis_error("expand_dims", a, ndim) for a in axes)
    if len(set(positions)) != len(positions):
        raise ValueError(f"keras.ops.expand_dims: repeated axis in {axis}")
    new_shape = list(x.shape)
    for position in positions:
        new_shape.insert(position, 1)
    return F.reshape(x, tuple(new_shape))


def _axis_error(op: str, axis, ndim: int):
    raise ValueError(f"keras.ops.{op}: axis {axis} is out of range for a result with {ndim} dimensions")


def squeeze(x, axis=None) -> Tensor:
    """Drop size-1 axes (all, or those in ``axis``, which must have size 1)."""
    x = _t(x)
    if axis is None:
        return F.squeeze(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -x.ndim <= a < x.ndim:
            _axis_error("squeeze", a, x.ndim)
        if x.shape[a] != 1:
            raise ValueError(f"keras.ops.squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return F.squeeze(x, axes)


def concatenate(xs, axis=0) -> Tensor:
    return F.cat([_t(x) for x in xs], dim=axis)


def stack(x, axis=0) -> Tensor:
    return F.stack([_t(item) for item in x], dim=axis)


def split(x, indices_or_sections, axis=0) -> list:
    """``np.split``: an int ``n`` gives n equal parts (the axis must divide), a list gives the split points."""
    x = _t(x)
    length = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        count = int(indices_or_sections)
        if count <= 0 or length % count:
            raise ValueError(f"keras.ops.split: axis {axis} of shape {x.shape} does not split into {count} equal "
                             "parts")
        return list(F.split(x, length // count, axis)) if length else [x] * count
    points = [builtins.min(builtins.max(int(p) + (length if p < 0 else 0), 0), length) for p in indices_or_sections]
    bounds = [0] + points + [length]
    index = [builtins.slice(None)] * x.ndim
    pieces = []
    for start, end in itertools.pairwise(bounds):  # np.split's pieces: empty where points decrease
        index[axis % x.ndim] = builtins.slice(start, builtins.max(start, end))
        pieces.append(x[tuple(index)])
    return pieces


def broadcast_to(x, shape) -> Tensor:
    return F.broadcast_to(_t(x), _shape_tuple(shape))


def repeat(x, repeats, axis=None) -> Tensor:
    """``np.repeat``: each element ``repeats`` times (an int, or one count per element) along ``axis`` (of the
    flattened tensor when None); the gradient sums the copies."""
    x = _t(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = axis % builtins.max(x.ndim, 1)
    counts = convert_to_numpy(repeats)
    index = np.repeat(np.arange(x.shape[axis]), counts)
    return x[(builtins.slice(None),) * axis + (index,)]


def tile(x, repeats) -> Tensor:
    """``np.tile``: the whole tensor ``repeats`` times along each axis (axes added in front as needed)."""
    reps = _shape_tuple(repeats)
    return F.tile(_t(x), reps)


def slice(inputs, start_indices, shape) -> Tensor:  # noqa: A001 - Keras' name
    """The block of ``shape`` starting at ``start_indices`` (one per axis)."""
    x = _t(inputs)
    starts, sizes = _shape_tuple(start_indices), _shape_tuple(shape)
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise ValueError(f"keras.ops.slice: expected {x.ndim} start indices and sizes for shape {x.shape}, "
                         f"received {starts} and {sizes}")
    return x[tuple(builtins.slice(start, start + size) for start, size in zip(starts, sizes))]


def tril(x, k=0) -> Tensor:
    return F.tril(_t(x), k)


def triu(x, k=0) -> Tensor:
    return F.triu(_t(x), k)


# ------------------------------------------------------------------------------------------- indexing
def _index_array(indices, op: str):
    array = indices.array if isinstance(indices, Tensor) else np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"keras.ops.{op}: indices must be integers, received dtype {array.dtype}")
    return array


def take(x, indices, axis=None) -> Tensor:
    """``np.take``: entries ``indices`` (any shape; negative counts from the end) along ``axis``, of the
    flattened tensor when None. Shape: ``x.shape[:axis] + indices.shape + x.shape[axis + 1:]``."""
    x = _t(x)
    index = _index_array(indices, "take")
    if axis is None:
        x, axis = x.reshape(-1), 0
    axis = axis % builtins.max(x.ndim, 1)
    return x[(builtins.slice(None),) * axis + (index,)]


def take_along_axis(x, indices, axis=None) -> Tensor:
    """``np.take_along_axis``: ``indices`` pick entries along ``axis`` (of the flattened tensor when None),
    broadcasting against ``x`` in the other axes; negative indices count from the end."""
    x = _t(x)
    index = _index_array(indices, "take_along_axis")
    if axis is None:
        x, axis, index = x.reshape(-1), 0, index.reshape(-1)
    axis = axis % x.ndim
    if index.ndim != x.ndim:
        raise ValueError(f"keras.ops.take_along_axis: indices of shape {index.shape} need as many dims as x "
                         f"{x.shape}")
    xp = get_array_module(x.array)
    other = np.broadcast_shapes(tuple(1 if d == axis else n for d, n in enumerate(x.shape)),
                                tuple(1 if d == axis else n for d, n in enumerate(index.shape)))
    x_shape = tuple(x.shape[d] if d == axis else n for d, n in enumerate(other))
    index_shape = tuple(index.shape[d] if d == axis else n for d, n in enumerate(other))
    x = F.broadcast_to(x, x_shape)
    index = xp.broadcast_to(xp.asarray(index), index_shape)
    index = xp.where(index < 0, index + x.shape[axis], index).astype(np.int64)
    return F.gather(x, axis, Tensor(xp.ascontiguousarray(index)))


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False) -> Tensor:
    """One-hot encoding of integer ``x`` along a new ``axis``: float32 unless ``dtype``; labels outside
    ``[0, num_classes)`` give all-zero vectors, as in Keras."""
    if sparse:
        raise ValueError("keras.ops.one_hot: sparse outputs are not supported")
    labels = _index_array(x, "one_hot")
    xp = get_array_module(labels)
    encoded = (labels[..., None] == xp.arange(num_classes)).astype(_dtype(dtype, _FLOAT))
    return Tensor(xp.moveaxis(encoded, -1, axis))


# --------------------------------------------------------------------------------------------- linalg
def matmul(x1, x2) -> Tensor:
    """Matrix product with NumPy semantics (1-d operands, broadcast batch dims)."""
    return F.matmul(*_pair(x1, x2))


def einsum(subscripts, *operands) -> Tensor:
    """Einstein summation (``"bqd,bkd->bqk"``, ``...``, diagonals); differentiable in every operand."""
    return F.einsum(subscripts, *[_t(operand) for operand in operands])


__all__ = [
    "convert_to_tensor", "convert_to_numpy", "cast", "shape", "ones", "zeros", "full", "ones_like", "zeros_like",
    "arange", "eye", "linspace", "sin", "cos", "exp", "log", "sqrt", "rsqrt", "square", "abs", "power", "maximum",
    "minimum", "clip", "relu", "sigmoid", "tanh", "erf", "silu", "gelu", "softmax", "log_softmax", "equal",
    "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_not",
    "where", "sum", "mean", "max", "min", "var", "std", "argmax", "argmin", "cumsum", "top_k", "reshape",
    "transpose", "expand_dims", "squeeze", "concatenate", "stack", "split", "broadcast_to", "repeat", "tile",
    "slice", "tril", "triu", "take", "take_along_axis", "one_hot", "matmul", "einsum",
]
