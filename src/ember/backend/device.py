"""Devices and the array module that serves each one.

A ``Device`` is ``cpu`` (NumPy) or ``cuda:N`` (CuPy). CuPy is imported only when a CUDA device is asked for,
so a CPU-only install never touches it.
"""
from __future__ import annotations

import numpy as np

CUPY_INSTALL_HINT = (
    "install CuPy for your CUDA version, e.g. `pip install ember[cuda]` (cupy-cuda12x) "
    "or `pip install ember[cuda13]` (cupy-cuda13x)"
)


class Device:
    """A place where arrays live: ``Device("cpu")``, ``Device("cuda")``, ``Device("cuda:1")``."""

    __slots__ = ("type", "index")
    type: str  # 'cpu' or 'cuda'
    index: int | None  # the GPU's number; None for the CPU

    def __init__(self, spec: str | Device = "cpu", index: int | None = None):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', received {spec!r}")
        kind, _, number = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', received {spec!r}")
        if number:
            if not number.isdigit():
                raise ValueError(f"device: expected 'cuda:N' with an integer N, received {spec!r}")
            index = int(number)
        if kind == "cpu":
            index = None
        elif index is None:
            index = 0
        self.type, self.index = kind, index

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    @property
    def xp(self):
        """The array module for this device: ``numpy`` or ``cupy``."""
        return np if self.type == "cpu" else import_cupy()


cpu = Device("cpu")


def device(spec="cpu", index=None) -> Device:
    """``ember.device("cuda:0")``: build a Device from a string (or return a Device unchanged)."""
    return Device(spec, index)


_cupy = None


def import_cupy():
    """Import CuPy on first use; raise one clear error with the install line when it cannot be used."""
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as exc:
            raise RuntimeError(f"CUDA device requested but CuPy is not installed: {CUPY_INSTALL_HINT}") from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CuPy installed, no driver or no GPU
            raise RuntimeError(f"CUDA device requested but no usable NVIDIA GPU was found ({exc})") from exc
        if count == 0:
            raise RuntimeError("CUDA device requested but no NVIDIA GPU was found")
        _cupy = cupy
    return _cupy


def get_array_module(*arrays):
    """Return ``numpy`` or ``cupy``, whichever owns the given arrays (NumPy when none is a CuPy array)."""
    if _cupy is not None:
        for array in arrays:
            if isinstance(array, _cupy.ndarray):
                return _cupy
    return np


def device_of(array) -> Device:
    """The Device holding ``array``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return Device("cuda", array.device.id)
    return cpu


def cupy_if_loaded():
    """The CuPy module if it has been imported already, else None (never imports it)."""
    return _cupy
