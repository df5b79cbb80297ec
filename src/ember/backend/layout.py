"""Memory order of arrays: which axis varies slowest in memory, and new arrays laid out like existing ones.

Ember's arrays keep their logical shape (e.g. (N, C, H, W)) whatever order their axes lie in memory; ops
that allocate a result in the order of their input keep later elementwise passes running over contiguous
memory instead of transposing element by element.
"""
from __future__ import annotations


def memory_order(array) -> tuple:
    """The axes of ``array`` from the slowest-varying in memory to the fastest (ties keep axis order)."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


def empty_ordered(xp, shape: tuple, order: tuple, dtype, zeros: bool = False):
    """An array of ``shape`` laid out in memory with axes ``order`` (slowest first)."""
    make = xp.zeros if zeros else xp.empty
    stored = make(tuple(shape[axis] for axis in order), dtype=dtype)
    inverse = sorted(range(len(order)), key=order.__getitem__)
    return stored.transpose(inverse)


def copy_in_order(xp, array, order: tuple):
    """A copy of ``array`` laid out in memory with axes ``order`` (one pass, transposing if it must)."""
    copy = empty_ordered(xp, array.shape, order, array.dtype)
    xp.copyto(copy, array)
    return copy


__all__ = ["memory_order", "empty_ordered", "copy_in_order"]
