"""Scatter-add without ``np.add.at``: sums values into positions that may repeat.

On the CPU, values are sorted by target position and summed with ``np.add.reduceat`` (several times faster
than ``np.add.at`` and never upcast); on CUDA, ``cupyx.scatter_add`` (atomic adds) does it.
"""
from __future__ import annotations

import numpy as np

from .device import get_array_module


def scatter_add_rows(indices, values, num_rows: int):
    """Return ``out`` of shape ``(num_rows, *values.shape[1:])`` with ``out[indices[k]] += values[k]``.

    ``indices``: 1-d integer array of length ``k``; ``values``: array of shape ``(k, ...)``.
    """
    xp = get_array_module(values)
    out = xp.zeros((num_rows,) + values.shape[1:], dtype=values.dtype)
    if indices.size == 0:
        return out
    if xp is not np:
        import cupyx

        cupyx.scatter_add(out, indices, values)
        return out
    order = np.argsort(indices, kind="stable")
    sorted_indices = indices[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_indices[1:] != sorted_indices[:-1])))
    if starts.size == sorted_indices.size:  # no repeats: a plain assignment
        out[indices] = values
        return out
    out[sorted_indices[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out
