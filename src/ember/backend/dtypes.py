"""Dtype policy: Ember dtypes are NumPy dtypes; float32 is the default floating type."""
from __future__ import annotations

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_float = float32

_NAMES: dict[str, np.dtype] = {
    "float16": float16, "half": float16, "float32": float32, "float": float32, "float64": float64,
    "double": float64, "int8": int8, "int16": int16, "int32": int32, "int": int32, "int64": int64,
    "long": int64, "uint8": uint8, "bool": bool_,
}


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (float32 or float64)."""
    global _default_float
    dtype = to_numpy_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, received {dtype}")
    _default_float = dtype


def to_numpy_dtype(dtype) -> np.dtype:
    """Accept an Ember/NumPy dtype, a Python type or a name such as ``"float32"``; return a NumPy dtype."""
    if dtype is None:
        return _default_float
    if isinstance(dtype, str):
        try:
            return _NAMES[dtype]
        except KeyError:
            raise TypeError(f"unknown dtype name {dtype!r}; expected one of {sorted(_NAMES)}") from None
    if dtype is float:
        return _default_float
    if dtype is int:
        return int64
    if dtype is bool:
        return bool_
    return np.dtype(dtype)


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"
