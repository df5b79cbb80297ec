"""Memory order of arrays: which axis varies slowest in memory, and new arrays laid out like existing ones.

Ember's arrays keep their logical shape (e.g. (N, C, H, W)) whatever order their axes lie in memory; ops
that allocate a result in the order of their input keep later elementwise passes running over contiguous
memory instead of transposing element by element.
"""
from __future__ import annotations

import numpy as np


def flat_views(*arrays):
    """1-d views of NumPy ``arrays`` of one shape and strides, each over its memory in order (``ravel`` in "K"
    order), so that one elementwise pass over them runs over contiguous memory; None when they are not all
    NumPy arrays of one shape and strides, or their memory is not contiguous in any axis order."""
    first = arrays[0]
    if any(type(a) is not np.ndarray or a.shape != first.shape or a.strides != first.strides for a in arrays):
        return None
    flats = [np.ravel(a, order="K") for a in arrays]
    return flats if all(np.may_share_memory(flat, a) for flat, a in zip(flats, arrays)) else None  # no copies


def memory_order(array) -> tuple:
    """The axes of ``array`` from the slowest-varying in memory to the fastest (ties keep axis order)."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


ALIGNMENT = 64  # bytes: a cache line, and an AVX-512 vector


def empty_aligned(shape: tuple, dtype, zeros: bool = False):
    """A C-contiguous NumPy array of ``shape`` whose first number starts on a ``ALIGNMENT``-byte boundary (a
    view into a slightly larger buffer). NumPy's own arrays come from malloc, 16-byte aligned, so that every
    vector the compiled kernels load from them straddles two cache lines."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not ALIGNMENT or size < 4096:
        return (np.zeros if zeros else np.empty)(shape, dtype=dtype)
    buffer = (np.zeros if zeros else np.empty)(size + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + size].view(dtype).reshape(shape)


def empty_ordered(xp, shape: tuple, order: tuple, dtype, zeros: bool = False):
    """An array of ``shape`` laid out in memory with axes ``order`` (slowest first); a NumPy one starts on a
    cache line (``empty_aligned``)."""
    stored_shape = tuple(shape[axis] for axis in order)
    if xp is np:
        stored = empty_aligned(stored_shape, dtype, zeros)
    else:
        stored = (xp.zeros if zeros else xp.empty)(stored_shape, dtype=dtype)
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return stored.transpose(inverse)


def copy_in_order(xp, array, order: tuple):
    """A copy of ``array`` laid out in memory with axes ``order`` (one pass, transposing if it must)."""
    copy = empty_ordered(xp, array.shape, order, array.dtype)
    xp.copyto(copy, array)
    return copy


__all__ = ["memory_order", "empty_ordered", "copy_in_order"]
