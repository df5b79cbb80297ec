"""TensorFlow-named ops (``tf.add``, ``tf.reduce_mean``, ``tf.one_hot``, ...) over Ember's functions.

Each op converts its arguments as TensorFlow does (``convert_to_tensor``), checks dtypes as TensorFlow does
(no implicit promotion: float32 with float64 raises ``InvalidArgumentError``), then calls the Ember function,
so Ember's graph records it and gradients come from Ember's backward passes. Ops that TensorFlow does not
differentiate (casts to integers, ``argmax``, ``one_hot``, comparisons) compute on arrays.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import functions as F
from ..autograd.tensor import Tensor as EmberTensor
from ._tensor import InvalidArgumentError, Tensor, as_dtype, convert_to_tensor, float32, int32, int64, wrap
from .variables import Variable, _install_operators

_FLOATS = "f"


def _tensor(value, dtype=None) -> EmberTensor:
    return convert_to_tensor(value, dtype=dtype)


def _is_tensor(value) -> bool:
    return isinstance(value, (EmberTensor, Variable))


def _dtype_name(tensor: EmberTensor) -> str:
    return as_dtype(tensor.array.dtype).name


def _pair(op: str, x, y) -> tuple[EmberTensor, EmberTensor]:
    """Both operands as tensors of one dtype: a non-tensor takes the tensor's dtype; two tensors must agree."""
    if _is_tensor(x) or not _is_tensor(y):
        x = _tensor(x)
        y = _tensor(y, dtype=None if _is_tensor(y) else x.array.dtype)
    else:
        y = _tensor(y)
        x = _tensor(x, dtype=y.array.dtype)
    if x.array.dtype != y.array.dtype:
        raise InvalidArgumentError(
            f"cannot compute {op} as input #1(zero-based) was expected to be a {_dtype_name(x)} tensor but is a "
            f"{_dtype_name(y)} tensor [Op:{op}]")
    return x, y


def _require_float(op: str, x: EmberTensor) -> None:
    if x.array.dtype.kind not in _FLOATS:
        raise InvalidArgumentError(f"{op}: expected a floating-point tensor (float16/32/64), received "
                                   f"{_dtype_name(x)} of shape {tuple(x.shape)} [Op:{op}]; tf.cast it first")


def _axis(axis):
    if axis is None:
        return None
    if isinstance(axis, (EmberTensor, np.ndarray)):
        axis = np.asarray(axis).tolist()
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    return int(axis)


def _ints(values) -> tuple:
    """A shape given as a list, tuple, tensor, or a list holding scalar tensors."""
    if isinstance(values, Variable):
        values = values.numpy()
    if isinstance(values, (EmberTensor, np.ndarray)):
        return tuple(int(v) for v in np.asarray(values).reshape(-1))
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    return tuple(int(np.asarray(v)) for v in values)


# ------------------------------------------------------------------------------------------- arithmetic
def add(x, y, name=None):
    """``x + y`` elementwise with broadcasting; strings concatenate."""
    x, y = _pair("AddV2", x, y)
    if x.array.dtype == object:
        return Tensor(np.char.add(x.array.astype(bytes), y.array.astype(bytes)).astype(object))
    return wrap(F.add(x, y))


def subtract(x, y, name=None):
    x, y = _pair("Sub", x, y)
    return wrap(F.sub(x, y))


def multiply(x, y, name=None):
    x, y = _pair("Mul", x, y)
    return wrap(F.mul(x, y))


def truediv(x, y, name=None):
    """``x / y``: integers are divided as floats (int8/int16/uint8 as float32, int32/int64 as float64)."""
    x, y = _pair("RealDiv", x, y)
    if x.array.dtype.kind in "iub":
        target = np.float32 if x.array.dtype.itemsize <= 2 else np.float64
        x, y = Tensor(x.array.astype(target)), Tensor(y.array.astype(target))
    return wrap(F.div(x, y))


divide = truediv


def floordiv(x, y, name=None):
    """``x // y``: rounds toward minus infinity (floats too)."""
    x, y = _pair("FloorDiv", x, y)
    if x.array.dtype.kind in "iu":
        return Tensor(np.floor_divide(x.array, y.array))
    return wrap(F.floor(F.div(x, y)))


floor_div = floordiv


def floormod(x, y, name=None):
    x, y = _pair("FloorMod", x, y)
    return wrap(F.remainder(x, y))


mod = floormod


def pow(x, y, name=None):  # noqa: A001 - tf.pow
    x, y = _pair("Pow", x, y)
    return wrap(F.pow(x, y))


def maximum(x, y, name=None):
    """The larger of ``x`` and ``y``; on ties the gradient goes to ``x`` alone, as TensorFlow's."""
    x, y = _pair("Maximum", x, y)
    return wrap(F.where(Tensor(np.greater_equal(x.array, y.array)), x, y))


def minimum(x, y, name=None):
    """The smaller of ``x`` and ``y``; on ties the gradient goes to ``x`` alone, as TensorFlow's."""
    x, y = _pair("Minimum", x, y)
    return wrap(F.where(Tensor(np.less_equal(x.array, y.array)), x, y))


def negative(x, name=None):
    return wrap(F.neg(_tensor(x)))


def abs(x, name=None):  # noqa: A001 - tf.abs
    return wrap(F.abs(_tensor(x)))


def square(x, name=None):
    return wrap(F.square(_tensor(x)))


def sign(x, name=None):
    return wrap(F.sign(_tensor(x)))


def identity(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """A copy of ``input`` that gradients flow through."""
    return wrap(F.clone(_tensor(input)))


def _float_unary(op: str, function):
    def unary(x, name=None):
        x = _tensor(x)
        _require_float(op, x)
        return wrap(function(x))

    unary.__name__ = function.__name__
    unary.__doc__ = f"Elementwise ``{function.__name__}`` of a floating-point tensor (TensorFlow's ``{op}``)."
    return unary


sqrt = _float_unary("Sqrt", F.sqrt)
rsqrt = _float_unary("Rsqrt", F.rsqrt)
exp = _float_unary("Exp", F.exp)
log = _float_unary("Log", F.log)
log1p = _float_unary("Log1p", F.log1p)
sin = _float_unary("Sin", F.sin)
cos = _float_unary("Cos", F.cos)
sigmoid = _float_unary("Sigmoid", F.sigmoid)
tanh = _float_unary("Tanh", F.tanh)
reciprocal = _float_unary("Reciprocal", F.reciprocal)
floor = _float_unary("Floor", F.floor)
ceil = _float_unary("Ceil", F.ceil)
round = _float_unary("Round", F.round)  # noqa: A001 - tf.round (half to even, as NumPy and TensorFlow)


def softplus(features, name=None):
    """``log(1 + exp(x))``, computed without overflow."""
    x = _tensor(features)
    _require_float("Softplus", x)
    return wrap(F.softplus(x))


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """``t`` limited to ``[clip_value_min, clip_value_max]``; the gradient passes where ``t`` is inside, bounds
    included (as TensorFlow's)."""
    t = _tensor(t)
    low = _tensor(clip_value_min, dtype=None if _is_tensor(clip_value_min) else t.array.dtype)
    high = _tensor(clip_value_max, dtype=None if _is_tensor(clip_value_max) else t.array.dtype)
    if low.array.dtype != t.array.dtype or high.array.dtype != t.array.dtype:
        raise InvalidArgumentError(f"clip_by_value: bounds must have the dtype of t ({_dtype_name(t)}), received "
                                   f"{_dtype_name(low)} and {_dtype_name(high)}")
    return minimum(maximum(t, low), high)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, output_type=None, name=None):
    """Matrix product of the last two axes, batch axes broadcast; both operands of rank >= 2 and one dtype."""
    a, b = _pair("MatMul", a, b)
    for index, operand in enumerate((a, b)):
        if operand.ndim < 2:
            raise InvalidArgumentError(f"In[{index}] ndims must be >= 2: {operand.ndim} (shapes {tuple(a.shape)} "
                                       f"and {tuple(b.shape)}) [Op:MatMul]")
    if transpose_a or adjoint_a:
        a = F.swapaxes(a, -1, -2)
    if transpose_b or adjoint_b:
        b = F.swapaxes(b, -1, -2)
    if a.shape[-1] != b.shape[-2]:
        raise InvalidArgumentError(f"Matrix size-incompatible: In[0]: {list(a.shape)}, In[1]: {list(b.shape)} "
                                   "[Op:MatMul]")
    return wrap(F.matmul(a, b))


def tensordot(a, b, axes, name=None):
    """Sum over ``axes`` of ``a`` and ``b`` (an int: the last ``axes`` of a with the first of b)."""
    a, b = _pair("TensorDot", a, b)
    if isinstance(axes, int):
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        a_axes, b_axes = [list(np.atleast_1d(axes[0])), list(np.atleast_1d(axes[1]))]
    a_free = [i for i in range(a.ndim) if i not in [x % a.ndim for x in a_axes]]
    b_free = [i for i in range(b.ndim) if i not in [x % b.ndim for x in b_axes]]
    a_matrix = F.reshape(F.permute(a, *a_free, *a_axes), int(np.prod([a.shape[i] for i in a_free])), -1)
    b_matrix = F.reshape(F.permute(b, *b_axes, *b_free), -1, int(np.prod([b.shape[i] for i in b_free])))
    shape = [a.shape[i] for i in a_free] + [b.shape[i] for i in b_free]
    return wrap(F.reshape(F.matmul(a_matrix, b_matrix), *shape))


# ------------------------------------------------------------------------------------------- comparisons
def _compare(op: str, function):
    def compare(x, y, name=None):
        x, y = _pair(op, x, y)
        return Tensor(function(np.asarray(x.array), np.asarray(y.array)))

    compare.__name__ = op
    compare.__doc__ = f"Elementwise ``{function.__name__}`` as a bool tensor (TensorFlow's ``{op}``)."
    return compare


equal = _compare("Equal", np.equal)
not_equal = _compare("NotEqual", np.not_equal)
greater = _compare("Greater", np.greater)
greater_equal = _compare("GreaterEqual", np.greater_equal)
less = _compare("Less", np.less)
less_equal = _compare("LessEqual", np.less_equal)
logical_and = _compare("LogicalAnd", np.logical_and)
logical_or = _compare("LogicalOr", np.logical_or)
logical_xor = _compare("LogicalXor", np.logical_xor)


def logical_not(x, name=None):
    x = _tensor(x)
    if x.array.dtype != np.bool_:
        raise InvalidArgumentError(f"logical_not: expected a bool tensor, received {_dtype_name(x)} [Op:LogicalNot]")
    return Tensor(np.logical_not(x.array))


# ------------------------------------------------------------------------------------------- reductions
def _reduce(op: str, function, input_tensor, axis, keepdims):
    x = _tensor(input_tensor)
    result = function(x, axis=_axis(axis), keepdims=builtins.bool(keepdims))
    if result.array.dtype != x.array.dtype:  # Ember sums integers in int64, as PyTorch; TensorFlow keeps the dtype
        result = Tensor(result.array.astype(x.array.dtype))
    return wrap(result)


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """Sum over ``axis`` (None: every axis; an int or a list), keeping the dtype."""
    return _reduce("Sum", F.sum, input_tensor, axis, keepdims)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean over ``axis``; of integers, an integer (the sum divided with truncation), as TensorFlow."""
    x = _tensor(input_tensor)
    if x.array.dtype.kind in "iu":
        axis = _axis(axis)
        total = np.sum(x.array, axis=axis, keepdims=keepdims, dtype=np.int64)
        count = x.array.size // max(total.size, 1) if x.array.size else 1
        quotient = np.sign(total) * (np.abs(total) // builtins.max(count, 1))
        return Tensor(np.asarray(quotient).astype(x.array.dtype))
    if x.array.dtype == np.bool_:
        raise InvalidArgumentError("reduce_mean: bool tensors cannot be averaged; tf.cast to a number first")
    return _reduce("Mean", F.mean, x, axis, keepdims)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    """Maximum over ``axis``; the gradient is shared equally between tied maxima, as TensorFlow."""
    return _reduce("Max", F.amax, input_tensor, axis, keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    return _reduce("Min", F.amin, input_tensor, axis, keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    x = _tensor(input_tensor)
    axis = _axis(axis)
    if isinstance(axis, tuple):  # Ember's prod takes one axis: reduce them one after another, last first
        result = x
        for single in sorted((a % x.ndim for a in axis), reverse=True):
            result = F.prod(result, axis=single, keepdims=builtins.bool(keepdims))
        return wrap(result if result.array.dtype == x.array.dtype else Tensor(result.array.astype(x.array.dtype)))
    return _reduce("Prod", F.prod, x, axis, keepdims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    x = _tensor(input_tensor)
    _require_float("ReduceLogSumExp", x)
    return _reduce("ReduceLogSumExp", F.logsumexp, x, axis, keepdims)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """Population variance (divided by N) over ``axis``."""
    x = _tensor(input_tensor)
    _require_float("ReduceVariance", x)
    centred = F.sub(x, F.mean(x, axis=_axis(axis), keepdims=True))
    return wrap(F.mean(F.square(centred), axis=_axis(axis), keepdims=builtins.bool(keepdims)))


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    return sqrt(reduce_variance(input_tensor, axis, keepdims))


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    return Tensor(np.any(_tensor(input_tensor).array, axis=_axis(axis), keepdims=keepdims))


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    return Tensor(np.all(_tensor(input_tensor).array, axis=_axis(axis), keepdims=keepdims))


def _arg(function, input, axis, output_type):  # noqa: A002
    x = _tensor(input)
    axis = 0 if axis is None else int(axis)  # TensorFlow's default axis is 0, not "flattened"
    return Tensor(function(np.asarray(x.array), axis=axis).astype(as_dtype(output_type).dtype))


def argmax(input, axis=None, output_type=int64, name=None):  # noqa: A002 - TensorFlow's argument name
    """Index of the largest value along ``axis`` (default 0), as int64 (``output_type``)."""
    return _arg(np.argmax, input, axis, output_type)


def argmin(input, axis=None, output_type=int64, name=None):  # noqa: A002
    return _arg(np.argmin, input, axis, output_type)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    x = _tensor(x)
    if exclusive or reverse:
        raise NotImplementedError("cumsum: exclusive= and reverse= are not supported in Ember")
    return wrap(F.cumsum(x, int(axis)))


# ------------------------------------------------------------------------------------------- shapes
def reshape(tensor, shape, name=None):
    """``tensor`` with a new shape (one dimension may be -1); the element count must match."""
    x = _tensor(tensor)
    shape = _ints(shape) if not (isinstance(shape, (list, tuple)) and len(shape) == 0) else ()
    known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
    if (-1 not in shape and known != x.array.size) or (-1 in shape and (known == 0 or x.array.size % known)):
        raise InvalidArgumentError(f"Input to reshape is a tensor with {x.array.size} values, but the requested "
                                   f"shape has {known} (shape {list(shape)}) [Op:Reshape]")
    return wrap(F.reshape(x, *shape) if shape else F.reshape(x, ()))


def transpose(a, perm=None, conjugate=False, name="transpose"):
    """Axes permuted by ``perm`` (default: reversed)."""
    x = _tensor(a)
    perm = tuple(range(x.ndim))[::-1] if perm is None else _ints(perm)
    if sorted(perm) != list(range(x.ndim)):
        raise InvalidArgumentError(f"transpose: perm {list(perm)} is not a permutation of the {x.ndim} axes of a "
                                   f"tensor of shape {tuple(x.shape)}")
    return wrap(F.permute(x, *perm))


def squeeze(input, axis=None, name=None):  # noqa: A002
    """Remove axes of size 1 (those in ``axis``, or all); squeezing an axis of another size raises."""
    x = _tensor(input)
    if axis is None:
        return wrap(F.reshape(x, *[d for d in x.shape if d != 1]) if x.ndim else x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for single in axes:
        if x.shape[single] != 1:
            raise InvalidArgumentError(f"Can not squeeze dim[{single % x.ndim}], expected a dimension of 1, got "
                                       f"{x.shape[single]} (shape {tuple(x.shape)}) [Op:Squeeze]")
    keep = [d for i, d in enumerate(x.shape) if i not in {a % x.ndim for a in axes}]
    return wrap(F.reshape(x, *keep) if keep else F.reshape(x, ()))


def expand_dims(input, axis, name=None):  # noqa: A002
    x = _tensor(input)
    axis = int(axis)
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise InvalidArgumentError(f"expand_dims: axis {axis} is out of range for a tensor of rank {x.ndim}")
    return wrap(F.unsqueeze(x, axis if axis >= 0 else x.ndim + 1 + axis))


def _same_dtype(op: str, values) -> list:
    tensors = [_tensor(v) for v in values]
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    first = tensors[0]
    tensors = [t if _is_tensor(v) else _tensor(v, first.array.dtype) for t, v in zip(tensors, values)]
    for index, tensor in enumerate(tensors):
        if tensor.array.dtype != first.array.dtype:
            raise InvalidArgumentError(f"{op}: all values must have one dtype; values[0] is {_dtype_name(first)}, "
                                       f"values[{index}] is {_dtype_name(tensor)} [Op:{op}]")
    return tensors


def concat(values, axis, name="concat"):
    """Join ``values`` along an existing ``axis``."""
    return wrap(F.cat(_same_dtype("ConcatV2", values), axis=int(axis)))


def stack(values, axis=0, name="stack"):
    """Join ``values`` (one shape) along a new ``axis``."""
    return wrap(F.stack(_same_dtype("Pack", values), axis=int(axis)))


def unstack(value, num=None, axis=0, name="unstack"):
    x = _tensor(value)
    return [wrap(part) for part in F.unbind(x, int(axis))]


def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Slices of ``params`` at ``indices`` along ``axis`` (default 0)."""
    x = _tensor(params)
    axis = 0 if axis is None else int(axis) % x.ndim
    index = np.asarray(_tensor(indices).array)
    if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
        raise InvalidArgumentError(f"gather: indices must be in [0, {x.shape[axis]}), received values from "
                                   f"{index.min()} to {index.max()} [Op:GatherV2]")
    key = (slice(None),) * axis + (index,)
    return wrap(F.getitem(x, key))


def tile(input, multiples, name=None):  # noqa: A002
    return wrap(F.tile(_tensor(input), _ints(multiples)))


def shape(input, out_type=int32, name=None):  # noqa: A002
    """The shape as a 1-d int32 tensor."""
    return Tensor(np.asarray(np.shape(_tensor(input).array), dtype=as_dtype(out_type).dtype))


def size(input, out_type=int32, name=None):  # noqa: A002
    return Tensor(np.asarray(_tensor(input).array.size, dtype=as_dtype(out_type).dtype))


def rank(input, name=None):  # noqa: A002
    return Tensor(np.asarray(_tensor(input).array.ndim, dtype=np.int32))


# ------------------------------------------------------------------------------------------- casts
def cast(x, dtype, name=None):
    """``x`` as ``dtype``. Between floating dtypes it is differentiable; to integers it truncates toward zero."""
    target = as_dtype(dtype)
    x = _tensor(x)
    if x.array.dtype == target.dtype:
        return wrap(x)
    if x.array.dtype.kind in _FLOATS and target.dtype.kind in _FLOATS:
        return wrap(F.to_dtype(x, target.dtype))
    if target.dtype.kind == "O" or x.array.dtype.kind == "O":
        raise InvalidArgumentError(f"Cast: cannot cast {_dtype_name(x)} to {target.name}; use tf.strings ops")
    return Tensor(np.asarray(x.array).astype(target.dtype))


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """``indices`` as one-hot vectors of length ``depth`` on a new last ``axis``; out-of-range indices (-1
    included) give all-``off_value`` vectors, as TensorFlow. dtype: ``dtype``, else on/off_value's, else float32."""
    index = np.asarray(_tensor(indices).array)
    if index.dtype.kind not in "iu":
        raise InvalidArgumentError(f"one_hot: indices must be integers, received {as_dtype(index.dtype).name}")
    if dtype is not None:
        target = as_dtype(dtype).dtype
    elif on_value is not None and _is_tensor(on_value):
        target = _tensor(on_value).array.dtype
    elif on_value is not None:
        target = np.asarray(convert_to_tensor(on_value).array).dtype
    else:
        target = np.dtype(np.float32)
    on = np.asarray(1 if on_value is None else _tensor(on_value).array).astype(target)
    off = np.asarray(0 if off_value is None else _tensor(off_value).array).astype(target)
    hot = index[..., None] == np.arange(int(depth))
    result = np.where(hot, on, off).astype(target)
    if axis is not None and axis != -1:
        result = np.moveaxis(result, -1, int(axis))
    return Tensor(np.ascontiguousarray(result))


def where(condition, x=None, y=None, name=None):
    """``where(c)``: the int64 coordinates (N, rank) where ``c`` is true; ``where(c, x, y)``: ``x`` where
    ``c``, else ``y``, broadcasting the three (gradients flow to ``x`` and ``y``)."""
    condition = _tensor(condition)
    if condition.array.dtype != np.bool_:
        raise InvalidArgumentError(f"where: condition must be a bool tensor, received {_dtype_name(condition)}")
    if x is None and y is None:
        return Tensor(np.argwhere(np.asarray(condition.array)).astype(np.int64))
    if x is None or y is None:
        raise ValueError("where: x and y must both be given, or neither")
    x, y = _pair("SelectV2", x, y)
    return wrap(F.where(condition, x, y))


# ------------------------------------------------------------------------------------------- creation
def _shape_and_dtype(shape, dtype) -> tuple[tuple, np.dtype]:
    return _ints(shape) if not (isinstance(shape, (list, tuple)) and len(shape) == 0) else (), as_dtype(dtype).dtype


def zeros(shape, dtype=float32, name=None):
    dims, numpy_dtype = _shape_and_dtype(shape, dtype)
    return Tensor(np.zeros(dims, numpy_dtype))


def ones(shape, dtype=float32, name=None):
    dims, numpy_dtype = _shape_and_dtype(shape, dtype)
    return Tensor(np.ones(dims, numpy_dtype))


def zeros_like(input, dtype=None, name=None):  # noqa: A002
    x = _tensor(input)
    return Tensor(np.zeros(x.shape, x.array.dtype if dtype is None else as_dtype(dtype).dtype))


def ones_like(input, dtype=None, name=None):  # noqa: A002
    x = _tensor(input)
    return Tensor(np.ones(x.shape, x.array.dtype if dtype is None else as_dtype(dtype).dtype))


def fill(dims, value, name=None):
    """A tensor of shape ``dims`` filled with ``value`` (its dtype: 1 -> int32, 1.0 -> float32)."""
    value = _tensor(value)
    return Tensor(np.full(_ints(dims), np.asarray(value.array), dtype=value.array.dtype))


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - tf.range
    """``[start, limit)`` by ``delta``; int32 when every argument is an integer, else float32."""
    if limit is None:
        start, limit = 0, start
    values = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in (start, limit, delta)]
    if dtype is None:
        dtype = float32 if builtins.any(v.dtype.kind == "f" for v in values) else int32
    numpy_dtype = as_dtype(dtype).dtype
    return Tensor(np.arange(values[0].item(), values[1].item(), values[2].item()).astype(numpy_dtype))


def linspace(start, stop, num, name=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (float32 from Python numbers)."""
    start, stop = _tensor(start, float32 if not _is_tensor(start) else None), \
        _tensor(stop, float32 if not _is_tensor(stop) else None)
    _require_float("LinSpace", start)
    values = np.linspace(np.asarray(start.array), np.asarray(stop.array), int(num), axis=int(axis))
    return Tensor(values.astype(start.array.dtype))


def eye(num_rows, num_columns=None, batch_shape=None, dtype=float32, name=None):
    matrix = np.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=as_dtype(dtype).dtype)
    if batch_shape is not None:
        matrix = np.broadcast_to(matrix, (*_ints(batch_shape), *matrix.shape)).copy()
    return Tensor(matrix)


# ------------------------------------------------------------------------------------------- printing
def print_(*inputs, sep=" ", end="\n", output_stream=None, summarize=None, name=None):
    """``tf.print``: values printed as NumPy prints them (tensors without the ``tf.Tensor(...)`` frame)."""
    import sys

    def text(value):
        if isinstance(value, (EmberTensor, Variable)):
            return str(np.asarray(value))
        return str(value)

    stream = sys.stdout if output_stream is None else output_stream
    print(*[text(value) for value in inputs], sep=sep, end=end, file=stream)


# ------------------------------------------------------------------------------------------- operators
def _reflected(function):
    def operator(self, other):
        return function(other, self)

    return operator


def _equality(op):
    def operator(self, other):
        if other is None or not isinstance(other, (EmberTensor, Variable, np.ndarray, np.generic, int, float,
                                                   builtins.bool, list, tuple)):
            return op is not_equal
        try:
            return op(self, other)
        except (InvalidArgumentError, TypeError, ValueError):
            if isinstance(other, (np.ndarray, np.generic)):
                # a NumPy array of another dtype is compared by value, as NumPy compares them (the beginners'
                # lesson's ``(pred[0] > 0.5) == test_labels``: a bool tensor against int32 labels)
                try:
                    return Tensor(np.equal(np.asarray(self.array), other) if op is equal
                                  else np.not_equal(np.asarray(self.array), other))
                except ValueError:
                    pass
            return op is not_equal  # as TensorFlow: tensors that cannot be compared are simply unequal

    return operator


def _and(x, y):
    x, y = _pair("LogicalAnd", x, y)
    if x.array.dtype == np.bool_:
        return Tensor(np.logical_and(x.array, y.array))
    return Tensor(np.bitwise_and(x.array, y.array))


def _or(x, y):
    x, y = _pair("LogicalOr", x, y)
    if x.array.dtype == np.bool_:
        return Tensor(np.logical_or(x.array, y.array))
    return Tensor(np.bitwise_or(x.array, y.array))


def _invert(x):
    x = _tensor(x)
    return Tensor(np.logical_not(x.array) if x.array.dtype == np.bool_ else np.invert(x.array))


def _matmul_operator(x, y):
    return matmul(x, y)


OPERATORS = {
    "__add__": add, "__radd__": _reflected(add), "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply), "__truediv__": truediv,
    "__rtruediv__": _reflected(truediv), "__floordiv__": floordiv, "__rfloordiv__": _reflected(floordiv),
    "__mod__": floormod, "__rmod__": _reflected(floormod), "__pow__": pow, "__rpow__": _reflected(pow),
    "__matmul__": _matmul_operator, "__rmatmul__": _reflected(_matmul_operator), "__neg__": negative,
    "__abs__": abs, "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__eq__": _equality(equal), "__ne__": _equality(not_equal), "__and__": _and, "__rand__": _reflected(_and),
    "__or__": _or, "__ror__": _reflected(_or), "__invert__": _invert,
}


def install_operators() -> None:
    """Bind TensorFlow's operators onto the TensorFlow tensor class and ``Variable``."""
    for name, function in OPERATORS.items():
        setattr(Tensor, name, function)
    Tensor.__getitem__ = lambda self, key: _tensor_getitem(self, key)  # type: ignore[method-assign]
    _install_operators()


def _tensor_getitem(self, key):
    if isinstance(key, Variable):
        key = key.numpy()
    if isinstance(key, EmberTensor):
        key = np.asarray(key.array)
    if isinstance(key, tuple):
        key = tuple(np.asarray(k.array) if isinstance(k, EmberTensor) else k for k in key)
    return wrap(F.getitem(self, key))


