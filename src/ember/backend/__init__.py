"""Arrays layer: devices, array modules (NumPy/CuPy), dtype policy, raw kernels."""
from .device import Device, device, get_array_module, device_of, cpu
from .dtypes import (
    float16, float32, float64, int8, int16, int32, int64, uint8, bool_, get_default_dtype,
    set_default_dtype, to_numpy_dtype, is_floating,
)

__all__ = [
    "Device", "device", "get_array_module", "device_of", "cpu",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_",
    "get_default_dtype", "set_default_dtype", "to_numpy_dtype", "is_floating",
]
