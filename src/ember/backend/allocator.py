"""Keep freed memory for reuse: the process's C allocator (glibc malloc) tuned for training.

A training step allocates and frees the same large arrays every time: activations, gradients, im2col bands.
Left alone, glibc returns each block above its mmap threshold (128 KiB at start, adapting upwards to at
most 32 MiB) to the operating system when it is freed, and trims the top of its heap once more than twice
that is free, so the next step faults the same pages in again, one 4 KiB page at a time. On the
virtual machines Ember is benchmarked on that costs a third of a convolutional step (see BENCHMARKS.md).

``import ember`` therefore fixes the mmap threshold at its maximum (32 MiB; Ember's own temporaries stay
below it, see ``functions/conv.py``) and lets up to ``TRIM_THRESHOLD_BYTES`` of free heap stay mapped.
This affects the whole process, as allocator choices do (PyTorch's tuning guide suggests jemalloc or
tcmalloc for the same reason). The ``malloc`` setting of ``ember.config`` governs it: ``EMBER_MALLOC=system``
before importing Ember leaves malloc as it is, and ``ember.config.set(malloc="system")`` later puts glibc's
initial thresholds back (its dynamic mmap threshold stays off once set: glibc offers no way back to it).
Elsewhere than glibc (macOS, Windows, musl) nothing is changed.
"""
from __future__ import annotations

import sys

from .. import config

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's upper limit for the threshold on 64-bit systems
TRIM_THRESHOLD_BYTES = 1024 * 2**20
GLIBC_INITIAL_BYTES = 128 * 2**10  # glibc's initial mmap and trim thresholds (malloc.h: 128 KiB each)

_tuned = False


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


def keep_freed_memory() -> bool:
    """Apply the tuning above unless the ``malloc`` setting is 'system'; True when glibc accepted both
    settings."""
    global _tuned
    if config.get("malloc") == "system":
        return False
    libc = _glibc()
    if libc is None:
        return False
    accepted = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    accepted &= libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    _tuned = bool(accepted)
    return _tuned


def restore_system_malloc() -> bool:
    """Put glibc's initial thresholds back after ``keep_freed_memory``; True when glibc accepted them."""
    global _tuned
    libc = _glibc()
    if libc is None or not _tuned:
        return False
    accepted = libc.mallopt(M_MMAP_THRESHOLD, GLIBC_INITIAL_BYTES)
    accepted &= libc.mallopt(M_TRIM_THRESHOLD, GLIBC_INITIAL_BYTES)
    _tuned = not accepted
    return bool(accepted)


def _follow_setting(value: str) -> None:
    if value == "system":
        restore_system_malloc()
    else:
        keep_freed_memory()


def malloc_state() -> str:
    """How malloc stands, for ``ember.config.describe()``."""
    if _tuned:
        return (f"glibc tuned by Ember: mmap threshold {MMAP_THRESHOLD_BYTES >> 20} MiB, trim threshold "
                f"{TRIM_THRESHOLD_BYTES >> 20} MiB")
    return "left as the C library set it" if _glibc() is not None else "not glibc: left alone"


config.on_change("malloc", _follow_setting)
config.register_effect("malloc", malloc_state)


__all__ = ["keep_freed_memory", "restore_system_malloc", "malloc_state", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES"]
