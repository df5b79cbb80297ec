"""``tf.dtypes``: the dtype objects and ``as_dtype``, ``cast``."""
from ._tensor import (
    DType, as_dtype, bool, double, float16, float32, float64, half, int8, int16, int32, int64, string, uint8, uint16,
)
from .ops import cast

__all__ = [
    "DType", "as_dtype", "bool", "double", "float16", "float32", "float64", "half", "int8", "int16", "int32",
    "int64", "string", "uint8", "uint16", "cast",
]
