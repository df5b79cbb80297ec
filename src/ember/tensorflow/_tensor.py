"""TensorFlow's value types over Ember's Tensor: ``DType``, ``TensorShape``, ``Tensor`` (eager), ``Variable``.

A TensorFlow tensor here *is* an ``ember.Tensor`` (the subclass ``Tensor`` below, with no storage of its own):
every op computes with Ember's functions and records Ember's graph, so gradients come from Ember's engine. The
subclass changes only what a TensorFlow user sees: ``shape`` is a ``TensorShape``, ``dtype`` a ``DType``, the
operators follow TensorFlow's dtype rules, and printing reads ``tf.Tensor(..., shape=(), dtype=float32)``.
"""
from __future__ import annotations

import builtins
import threading
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor as EmberTensor


class InvalidArgumentError(ValueError):
    """An op received arguments it cannot compute with (TensorFlow's ``tf.errors.InvalidArgumentError``)."""


# ------------------------------------------------------------------------------------------------- dtypes
class DType:
    """A TensorFlow dtype: ``tf.float32.name == "float32"``, ``tf.float32.as_numpy_dtype is np.float32``.

    Compares equal to the NumPy dtype it stands for (``tf.float32 == np.float32``); NumPy accepts it wherever it
    takes a dtype (``np.zeros(3, tf.float32)``), and unknown attributes (``kind``, ``itemsize``) are NumPy's.
    """

    __slots__ = ("dtype", "name")

    def __init__(self, numpy_dtype, name: str | None = None) -> None:
        self.dtype = np.dtype(numpy_dtype)
        self.name = name or self.dtype.name

    @property
    def as_numpy_dtype(self) -> type:
        return self.dtype.type

    @property
    def is_floating(self) -> builtins.bool:
        return self.dtype.kind == "f"

    @property
    def is_integer(self) -> builtins.bool:
        return self.dtype.kind in "iu"

    @property
    def is_unsigned(self) -> builtins.bool:
        return self.dtype.kind == "u"

    @property
    def is_bool(self) -> builtins.bool:
        return self.dtype.kind == "b"

    @property
    def size(self) -> int:
        return self.dtype.itemsize

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def min(self):
        return np.finfo(self.dtype).min if self.is_floating else np.iinfo(self.dtype).min

    @property
    def max(self):
        return np.finfo(self.dtype).max if self.is_floating else np.iinfo(self.dtype).max

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dtype, name)

    def __eq__(self, other) -> builtins.bool:
        if isinstance(other, DType):
            return self.name == other.name
        try:
            return self.dtype == as_dtype(other).dtype and self.name == as_dtype(other).name
        except TypeError:
            return False

    def __ne__(self, other) -> builtins.bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = half = DType(np.float16)
float32 = DType(np.float32)
float64 = double = DType(np.float64)
int8 = DType(np.int8)
int16 = DType(np.int16)
int32 = DType(np.int32)
int64 = DType(np.int64)
uint8 = DType(np.uint8)
uint16 = DType(np.uint16)
bool = DType(np.bool_, "bool")  # noqa: A001 - tf.bool, as TensorFlow names it
string = DType(np.object_, "string")

_BY_NAME = {d.name: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, uint16, bool, string)}
_BY_NAME.update(half=float16, double=float64)


def as_dtype(type_value) -> DType:
    """``tf.as_dtype``: a DType from a DType, a name (``"float32"``), a NumPy dtype or a Python type."""
    if isinstance(type_value, DType):
        return type_value
    if isinstance(type_value, str):
        if type_value in _BY_NAME:
            return _BY_NAME[type_value]
        raise TypeError(f"as_dtype: unknown dtype name {type_value!r}; expected one of {sorted(_BY_NAME)}")
    if type_value is float:
        return float32
    if type_value is int:
        return int32
    if type_value in (builtins.bool, np.bool_):
        return bool
    if type_value in (str, bytes):
        return string
    try:
        numpy_dtype = np.dtype(type_value)
    except TypeError:
        raise TypeError(f"as_dtype: cannot convert {type_value!r} to a dtype") from None
    if numpy_dtype.kind in "OSU":
        return string
    if numpy_dtype.name not in _BY_NAME:
        raise TypeError(f"as_dtype: dtype {numpy_dtype} has no TensorFlow equivalent in Ember")
    return _BY_NAME[numpy_dtype.name]




# ------------------------------------------------------------------------------------------------- shapes
class TensorShape(tuple):
    """A tensor's shape: a tuple of ints with TensorFlow's methods (``as_list()``, ``rank``, ``num_elements()``).

    ``x.shape[0]`` is an int, ``x.shape[1:]`` a TensorShape; it equals tuples and lists with the same dims.
    """

    def __new__(cls, dims=()) -> TensorShape:
        if dims is None:
            raise ValueError("TensorShape: shapes of unknown rank do not exist in eager execution")
        return super().__new__(cls, (None if d is None else int(d) for d in dims))

    def as_list(self) -> list:
        return list(self)

    @property
    def rank(self) -> int:
        return len(self)

    ndims = rank

    @property
    def dims(self) -> list:
        return list(self)

    def num_elements(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def is_fully_defined(self) -> builtins.bool:
        return None not in self

    def concatenate(self, other) -> TensorShape:
        return TensorShape(tuple(self) + tuple(other))

    def __getitem__(self, key):
        item = super().__getitem__(key)
        return TensorShape(item) if isinstance(key, slice) else item

    def __eq__(self, other) -> builtins.bool:
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __ne__(self, other) -> builtins.bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return f"TensorShape({list(self)})"

    def __str__(self) -> str:
        return tuple.__repr__(tuple(self))


# ------------------------------------------------------------------------------------------ tensor class
def _numpy_value(array: np.ndarray):
    """What ``.numpy()`` gives: the array, or a NumPy scalar for a 0-d tensor (bytes for a string)."""
    return array[()] if array.ndim == 0 else array


class Tensor(EmberTensor):
    """An immutable eager tensor as TensorFlow 2 presents it; an ``ember.Tensor`` underneath.

    ``.numpy()``, ``.shape`` (TensorShape), ``.dtype`` (DType), ``.ndim``; operators follow TensorFlow: both
    operands of a binary op must have one dtype (Python numbers take the tensor's), ``/`` of integers gives
    floats (int32/int64 -> float64), ``@`` needs rank >= 2.
    """

    __slots__ = ()

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self.array.shape)

    @property
    def dtype(self) -> DType:  # type: ignore[override]
        return as_dtype(self.array.dtype)

    def get_shape(self) -> TensorShape:
        return self.shape

    def numpy(self):
        """The value as a NumPy array (a NumPy scalar for a 0-d tensor); shares memory on the CPU."""
        return _numpy_value(super().numpy())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = np.asarray(super().numpy())
        return array if dtype is None else array.astype(dtype, copy=False)

    def __format__(self, spec: str) -> str:
        if self.array.ndim == 0:
            return format(self.numpy(), spec)
        return format(str(self), spec)

    def ref(self):
        """A hashable reference to this tensor (TensorFlow's ``Tensor.ref()``)."""
        return _Reference(self)

    def __setitem__(self, key, value):
        raise TypeError("'Tensor' object does not support item assignment: TensorFlow tensors are immutable; "
                        "use tf.Variable (assign) or tf.tensor_scatter_nd_update-style ops instead")

    def __str__(self) -> str:
        return _tensor_text("tf.Tensor", self.array, self.dtype.name)

    def __repr__(self) -> str:
        return f"<tf.Tensor: shape={self.shape}, dtype={self.dtype.name}, numpy={_numpy_repr(self.array)}>"

    __hash__ = EmberTensor.__hash__


class _Reference:
    __slots__ = ("_tensor",)

    def __init__(self, tensor) -> None:
        self._tensor = tensor

    def deref(self):
        return self._tensor

    def __eq__(self, other) -> builtins.bool:
        return isinstance(other, _Reference) and other._tensor is self._tensor

    def __hash__(self) -> int:
        return id(self._tensor)


def _host(array) -> np.ndarray:
    return array if isinstance(array, np.ndarray) else array.get()


def _tensor_text(kind: str, array, dtype_name: str) -> str:
    body = str(_numpy_value(_host(array)))
    separator = "\n" if "\n" in body else ""
    return f"{kind}({separator}{body}, shape={tuple(array.shape)}, dtype={dtype_name})"


def _numpy_repr(array) -> str:
    array = _host(array)
    return str(array[()]) if array.ndim == 0 and array.dtype.kind != "O" else repr(_numpy_value(array))


def wrap(value):
    """An Ember result as a TensorFlow tensor, keeping its place in the graph.

    A fresh op output becomes this class in place (same object, same graph edge); a leaf that requires grad
    (a Parameter) is returned as it is, so that gradients still reach it; other leaves get a new tensor that
    shares their memory.
    """
    if isinstance(value, Tensor):
        return value
    if type(value) is EmberTensor and value.creator is not None:
        value.__class__ = Tensor
        return value
    if isinstance(value, EmberTensor):
        return value if value.requires_grad else Tensor(value.array)
    return value


# -------------------------------------------------------------------------------------------- conversion
def _infer_array(value) -> np.ndarray:
    """A NumPy array from Python or NumPy data with TensorFlow's default dtypes (float32, int32, string)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    if isinstance(value, (bytes, str)):
        return np.array(value.encode() if isinstance(value, str) else value, dtype=object)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        fits = array.size == 0 or (array.min() >= np.iinfo(np.int32).min and array.max() <= np.iinfo(np.int32).max)
        return array.astype(np.int32 if fits else np.int64)
    if array.dtype.kind in "SU":
        return np.array(array.tolist(), dtype=object) if array.dtype.kind == "S" else \
            np.vectorize(lambda s: s.encode(), otypes=[object])(array)
    if array.dtype == object:
        raise TypeError(f"convert_to_tensor: cannot convert {type(value).__name__} {value!r:.80} to a tensor "
                        "(ragged nested lists?)")
    return array


def _cast_array(array: np.ndarray, dtype: DType, value) -> np.ndarray:
    """Python/NumPy data in ``dtype``, refusing what TensorFlow refuses (1.5 as an int32)."""
    if array.dtype == dtype.dtype:
        return array
    if dtype.dtype.kind == "O" or array.dtype.kind == "O":
        raise TypeError(f"Cannot convert {value!r:.80} to EagerTensor of dtype {dtype.name}")
    if dtype.dtype.kind in "iub" and array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
        raise TypeError(f"Cannot convert {value!r:.80} to EagerTensor of dtype {dtype.name}")
    if dtype.dtype.kind == "b" and array.dtype.kind != "b":
        raise TypeError(f"Cannot convert {value!r:.80} to EagerTensor of dtype {dtype.name}")
    return array.astype(dtype.dtype)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """``tf.convert_to_tensor``: a tensor from a tensor, a Variable, a NumPy array or (nested) Python data.

    Python floats become float32, ints int32, ``bytes``/``str`` strings; NumPy arrays keep their dtype. With
    ``dtype``, data is converted to it (refused where values would change, as TensorFlow), while a tensor of
    another dtype raises ValueError. An ``ember.Tensor`` (a Parameter) is returned as it is.
    """
    from .variables import Variable

    target = None if dtype is None else as_dtype(dtype)
    if isinstance(value, Variable):
        value = value._read()
    if isinstance(value, EmberTensor):
        if target is not None and value.array.dtype != target.dtype:
            raise ValueError(f"Tensor conversion requested dtype {target.name} for Tensor with dtype "
                             f"{as_dtype(value.array.dtype).name}: {value!r}")
        return value
    if isinstance(value, (list, tuple)) and any(isinstance(v, (EmberTensor, Variable)) for v in _leaves(value)):
        value = _to_numpy_nested(value)
    if target is None and dtype_hint is not None:
        array = _infer_array(value)
        try:
            return Tensor(_cast_array(array, as_dtype(dtype_hint), value))
        except TypeError:
            return Tensor(array)
    array = _infer_array(value) if target is None or isinstance(value, np.ndarray) else np.asarray(value)
    if target is not None:
        if array.dtype.kind in "SU":
            array = _infer_array(value)
        array = _cast_array(array, target, value)
    return Tensor(array)


def _leaves(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _to_numpy_nested(value):
    if isinstance(value, (list, tuple)):
        return [_to_numpy_nested(item) for item in value]
    return np.asarray(convert_to_tensor(value).array) if not isinstance(value, (int, float)) else value


def constant(value, dtype=None, shape=None, name="Const"):
    """``tf.constant``: a tensor holding ``value`` (see ``convert_to_tensor`` for the dtypes).

    ``shape`` reshapes it, or fills the shape when ``value`` is a single number.
    """
    if isinstance(value, EmberTensor):
        tensor = value if dtype is None or value.array.dtype == as_dtype(dtype).dtype else \
            Tensor(value.array.astype(as_dtype(dtype).dtype))
        tensor = Tensor(tensor.array.copy()) if not isinstance(tensor, Tensor) else tensor
    else:
        tensor = convert_to_tensor(value, dtype=dtype)
    if shape is None:
        return tensor
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape, dtype=np.int64))
    if tensor.array.size == 1:
        return Tensor(np.full(shape, tensor.array.reshape(()), dtype=tensor.array.dtype))
    if tensor.array.size != size:
        raise TypeError(f"constant: value has {tensor.array.size} elements, but shape {shape} has {size}")
    return Tensor(tensor.array.reshape(shape))


# -------------------------------------------------------------------------------------- recording state
class _TapeState(threading.local):
    """The tapes recording in this thread, innermost last (TensorFlow's tapes are per thread too)."""

    def __init__(self) -> None:
        self.active: list = []


tape_state = _TapeState()
