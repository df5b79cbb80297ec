"""``tf.config``: the devices Ember can run on; memory settings are accepted and have no effect."""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["PhysicalDevice", "list_physical_devices", "list_logical_devices", "experimental",
           "run_functions_eagerly", "functions_run_eagerly", "set_visible_devices", "get_visible_devices"]


class PhysicalDevice(NamedTuple):
    name: str
    device_type: str


def list_physical_devices(device_type=None) -> list:
    """The CPU, and each CUDA GPU when CuPy sees one (``ember.cuda``); ``device_type``: "CPU" or "GPU"."""
    from .. import cuda

    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    if cuda.is_available():
        devices += [PhysicalDevice(f"/physical_device:GPU:{i}", "GPU") for i in range(cuda.device_count())]
    if device_type is not None:
        devices = [d for d in devices if d.device_type == str(device_type).upper()]
    return devices


list_logical_devices = list_physical_devices
_visible: list | None = None


def set_visible_devices(devices, device_type=None) -> None:
    """Accepted for compatibility: Ember places tensors where ``.to(device)`` asks, whatever is visible."""
    global _visible
    _visible = list(devices) if isinstance(devices, (list, tuple)) else [devices]


def get_visible_devices(device_type=None) -> list:
    return list_physical_devices(device_type) if _visible is None else list(_visible)


def run_functions_eagerly(run_eagerly: bool) -> None:
    """No effect: Ember always runs eagerly (``tf.function`` is a pass-through)."""


def functions_run_eagerly() -> bool:
    return True


class _Experimental:
    """``tf.config.experimental``: memory growth is what Ember does anyway (CuPy's pool grows on demand)."""

    list_physical_devices = staticmethod(list_physical_devices)
    list_logical_devices = staticmethod(list_logical_devices)

    @staticmethod
    def set_memory_growth(device, enable: bool) -> None:
        """No effect: GPU memory already grows on demand in Ember."""

    @staticmethod
    def get_memory_growth(device) -> bool:
        return True


experimental = _Experimental()
