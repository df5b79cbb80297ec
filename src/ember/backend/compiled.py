"""Optional compiled CPU kernels: numba when it is installed (``pip install "ember[fast]"``), NumPy otherwise.

A few CPU hot spots cost NumPy several passes over memory or many short strided copies: im2col pads its
input, then copies kh*kw strided views; col2im is kh*kw strided additions. Where numba is importable, those
go to the kernels in ``_numba_kernels.py`` instead: one pass each, the same numbers (the additions in the
same order per element). Everything else, and every
CuPy array, keeps the NumPy/CuPy code, which stays the reference the tests compare against.

numba is imported on first use, not by ``import ember``. Set ``EMBER_NUMBA=0`` before the first use to keep
the NumPy paths.
"""
from __future__ import annotations

import os

OPT_OUT_VALUES = ("0", "off", "no", "false", "numpy")
_UNSET = object()
_kernels = _UNSET


def kernels(environ=os.environ):
    """The compiled kernel module, or None when numba is missing or ``EMBER_NUMBA`` opts out."""
    global _kernels
    if _kernels is _UNSET:
        _kernels = None
        if environ.get("EMBER_NUMBA", "").strip().lower() not in OPT_OUT_VALUES:
            try:
                from . import _numba_kernels
            except ImportError:
                pass
            else:
                _kernels = _numba_kernels
    return _kernels


def for_arrays(*arrays):
    """``kernels()`` when every array is a NumPy array (any strides) of one float dtype, float32 or
    float64, else None."""
    import numpy as np

    dtype = getattr(arrays[0], "dtype", None)
    if dtype not in (np.float32, np.float64):
        return None
    if any(type(array) is not np.ndarray or array.dtype != dtype for array in arrays):
        return None
    return kernels()


__all__ = ["kernels", "for_arrays"]
