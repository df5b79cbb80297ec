"""Turning operands into Tensors with Ember's dtype rules (shared by every function family)."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend.device import get_array_module


def as_tensor_like(value, reference: Tensor) -> Tensor:
    """Wrap a Python/NumPy scalar or array as a constant Tensor that will combine with ``reference``.

    Python scalars take the reference's dtype (so ``float32 * 0.5`` stays float32), except a float scalar
    with an integer or bool tensor, which gives the default float dtype, as in PyTorch.
    """
    if isinstance(value, Tensor):
        return value
    xp = get_array_module(reference.array)
    ref_kind = reference.array.dtype.kind
    if isinstance(value, bool):
        dtype = reference.array.dtype
    elif isinstance(value, int):
        dtype = reference.array.dtype if ref_kind != "b" else dtypes.int64
    elif isinstance(value, float):
        dtype = reference.array.dtype if ref_kind in "fc" else dtypes.get_default_dtype()
    elif isinstance(value, np.generic) and value.ndim == 0 and np.dtype(value.dtype).kind in "iuf":
        # NumPy scalars behave like Python scalars: they do not upcast a float32 tensor
        kind = np.dtype(value.dtype).kind
        if kind == "f":
            dtype = reference.array.dtype if ref_kind in "fc" else dtypes.get_default_dtype()
        else:
            dtype = reference.array.dtype if ref_kind != "b" else dtypes.int64
    else:
        array = xp.asarray(value)
        if array.dtype == np.float64 and reference.array.dtype.kind == "f" and not isinstance(value, np.ndarray):
            array = array.astype(reference.array.dtype)  # a Python list of floats follows the tensor
        return Tensor(array)
    return Tensor(xp.asarray(value, dtype=dtype))


def promote(a, b):
    """Return ``(a, b)`` as Tensors, converting whichever is not a Tensor to match the other."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"expected at least one Tensor, received {type(a).__name__} and {type(b).__name__}")
        a = as_tensor_like(a, b)
    elif not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    return a, b


def normalize_axis(dim, ndim: int, op: str):
    """Normalise ``dim`` (int, tuple or None) to a tuple of non-negative axes; None stays None."""
    if dim is None:
        return None
    axes = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    result = []
    for axis in axes:
        axis = int(axis)
        if not -max(ndim, 1) <= axis < max(ndim, 1):
            raise IndexError(f"{op}: dim {axis} is out of range for a tensor with {ndim} dimensions")
        result.append(axis % max(ndim, 1))
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(result)


def pick_dim(op: str, dim, axis, default=None):
    """Accept PyTorch's ``dim`` or NumPy's ``axis`` (an alias), not both."""
    if axis is not None:
        if dim is not None and dim is not default:
            raise TypeError(f"{op}: pass dim or axis, not both")
        return axis
    return dim


def pick_keepdim(op: str, keepdim: bool, keepdims) -> bool:
    if keepdims is not None:
        return bool(keepdims)
    return bool(keepdim)
