"""``ember.cuda``: is a GPU usable, how many, and its memory pool. CuPy is imported only when asked."""
from __future__ import annotations

from .backend.device import CUPY_INSTALL_HINT, import_cupy

__all__ = ["is_available", "device_count", "synchronize", "empty_cache", "memory_allocated", "manual_seed",
           "CUPY_INSTALL_HINT"]


def is_available() -> bool:
    """True when CuPy is installed and at least one NVIDIA GPU answers (never raises)."""
    try:
        import_cupy()
    except RuntimeError:
        return False
    return True


def device_count() -> int:
    return import_cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def synchronize() -> None:
    """Wait for all queued GPU work to finish (for timing)."""
    import_cupy().cuda.Device().synchronize()


def empty_cache() -> None:
    """Return the memory CuPy's pools hold but no array uses to the driver."""
    cupy = import_cupy()
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated() -> int:
    """Bytes currently used by arrays in CuPy's default pool."""
    return import_cupy().get_default_memory_pool().used_bytes()


def manual_seed(seed: int) -> None:
    """Seed CuPy's generator (``ember.manual_seed`` does this and seeds the CPU too)."""
    from .backend.random import manual_seed as seed_all

    seed_all(seed)
