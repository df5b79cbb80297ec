"""Keep freed memory for reuse: the process's C allocator (glibc malloc) tuned for training.

A training step allocates and frees the same large arrays every time: activations, gradients, im2col bands.
Left alone, glibc returns each block above its mmap threshold (128 KiB at start, adapting upwards to at
most 32 MiB) to the operating system when it is freed, and trims the top of its heap once more than twice
that is free, so the next step faults the same pages in again, one 4 KiB page at a time. On the
virtual machines Ember is benchmarked on that costs a third of a convolutional step (see BENCHMARKS.md).

``import ember`` therefore fixes the mmap threshold at its maximum (32 MiB; Ember's own temporaries stay
below it, see ``functions/conv.py``) and lets up to ``TRIM_THRESHOLD_BYTES`` of free heap stay mapped.
This affects the whole process, as allocator choices do (PyTorch's tuning guide suggests jemalloc or
tcmalloc for the same reason). Set ``EMBER_MALLOC=system`` before importing Ember to leave malloc as it is.
Elsewhere than glibc (macOS, Windows, musl) nothing is changed.
"""
from __future__ import annotations

import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's upper limit for the threshold on 64-bit systems
TRIM_THRESHOLD_BYTES = 1024 * 2**20
OPT_OUT_VALUES = ("system", "0", "off", "no", "false")


def _glibc():
    """The C library when it is glibc (it has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return libc


def keep_freed_memory(environ=os.environ) -> bool:
    """Apply the tuning above unless ``EMBER_MALLOC`` opts out; True when glibc accepted both settings."""
    if environ.get("EMBER_MALLOC", "").strip().lower() in OPT_OUT_VALUES:
        return False
    libc = _glibc()
    if libc is None:
        return False
    accepted = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    accepted &= libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    return bool(accepted)


__all__ = ["keep_freed_memory", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES"]
