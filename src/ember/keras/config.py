"""Keras-dialect settings: which device ``compile`` puts models on.

``"auto"`` (the default) trains on the GPU when ``ember.cuda.is_available()``, as Keras does with TensorFlow;
``keras.config.set_device("cpu")`` keeps everything on the CPU, ``"cuda:1"`` picks a GPU.
"""
from __future__ import annotations

from ..backend.device import Device

_device = "auto"


def set_device(device: str) -> None:
    """Choose where compiled Keras models train: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    global _device
    if device != "auto":
        Device(device)  # validates the name
    _device = device


def device() -> str:
    """The configured device name (``"auto"`` unless changed)."""
    return _device


def resolve_device() -> Device:
    """The device ``compile`` uses: the configured one, or for ``"auto"`` CUDA when usable, else the CPU."""
    if _device != "auto":
        return Device(_device)
    from ..cuda import is_available

    return Device("cuda") if is_available() else Device("cpu")
