"""``tf.Variable``: mutable state whose reads are tensors that tapes differentiate."""
from __future__ import annotations

import itertools

import numpy as np

from ._tensor import (
    DType, Tensor, TensorShape, _numpy_repr, _numpy_value, as_dtype, convert_to_tensor, tape_state,
)

_names = itertools.count()


class Variable:
    """A mutable tensor (TensorFlow's ``tf.Variable``).

    ``Variable(initial_value, trainable=True, name=None, dtype=None, shape=None)``: ``initial_value`` is anything
    ``tf.constant`` takes, or a callable returning it. Reads (ops, ``read_value()``, ``value()``) give tensors;
    ``assign``/``assign_add``/``assign_sub`` replace the value (tensors read earlier keep theirs) and return
    the variable. A trainable variable read while a ``GradientTape`` records is watched by that tape.
    """

    __array_ufunc__ = None  # NumPy defers to the reflected operators below (ndarray * Variable)
    __array_priority__ = 1001

    def __init__(self, initial_value=None, trainable: bool = True, validate_shape: bool = True, name=None,
                 dtype=None, shape=None, **kwargs) -> None:
        if initial_value is None:
            raise ValueError("Variable: initial_value must be given")
        if callable(initial_value):
            initial_value = initial_value()
        value = convert_to_tensor(initial_value, dtype=dtype) if not isinstance(initial_value, Variable) else \
            convert_to_tensor(initial_value.read_value(), dtype=dtype)
        if dtype is not None and value.array.dtype != as_dtype(dtype).dtype:
            value = Tensor(value.array.astype(as_dtype(dtype).dtype))
        self._validate_shape = bool(validate_shape) and shape is None
        if shape is not None and tuple(shape) != tuple(value.shape) and validate_shape:
            raise ValueError(f"Variable: initial value has shape {tuple(value.shape)}, but shape={shape}")
        self._trainable = bool(trainable)
        self._name = f"{name or 'Variable'}:0"
        self._value = self._leaf(np.array(value.array, copy=True))

    @staticmethod
    def _leaf(array: np.ndarray) -> Tensor:
        tensor = Tensor(array)
        if array.dtype.kind == "f":
            tensor.requires_grad = True  # a graph edge from every read; tapes decide what they differentiate
        return tensor

    # -------------------------------------------------------------------------------------- reading
    def _read(self) -> Tensor:
        """The current value, telling each recording tape that watches accessed variables about this one."""
        if self._trainable:
            for tape in tape_state.active:
                tape._variable_accessed(self)
        return self._value

    def read_value(self) -> Tensor:
        """The current value as a new tensor (differentiable: an identity of the variable)."""
        from .ops import identity

        return identity(self._read())

    def value(self) -> Tensor:
        return self._read()

    def numpy(self):
        return _numpy_value(self._value.array).copy()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = np.asarray(self._value.array)
        return array if dtype is None else array.astype(dtype)

    # -------------------------------------------------------------------------------------- facts
    @property
    def shape(self) -> TensorShape:
        return TensorShape(self._value.array.shape)

    def get_shape(self) -> TensorShape:
        return self.shape

    @property
    def dtype(self) -> DType:
        return as_dtype(self._value.array.dtype)

    @property
    def ndim(self) -> int:
        return self._value.array.ndim

    @property
    def name(self) -> str:
        return self._name

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def device(self):
        return self._value.device

    def ref(self):
        """A hashable reference to this variable."""
        return _VariableReference(self)

    # ------------------------------------------------------------------------------------ assigning
    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Replace the value with ``value`` (same dtype; same shape unless created with shape checks off)."""
        new = convert_to_tensor(value, dtype=self.dtype) if not isinstance(value, Variable) else value._value
        if new.array.dtype != self._value.array.dtype:
            raise ValueError(f"Variable {self._name!r} assign: value has dtype {as_dtype(new.array.dtype).name}, "
                             f"the variable {self.dtype.name}")
        if self._validate_shape and new.array.shape != self._value.array.shape:
            raise ValueError(f"Cannot assign value to variable '{self._name}': Shape mismatch. The variable shape "
                             f"{tuple(self._value.array.shape)}, and the assigned value shape "
                             f"{tuple(new.array.shape)} are incompatible.")
        self._value = self._leaf(np.array(new.array, copy=True))
        return self if read_value else None

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """``self.assign(self + delta)``."""
        delta = convert_to_tensor(delta, dtype=self.dtype)
        return self.assign(Tensor(self._value.array + delta.array), read_value=read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """``self.assign(self - delta)``."""
        delta = convert_to_tensor(delta, dtype=self.dtype)
        return self.assign(Tensor(self._value.array - delta.array), read_value=read_value)

    # ------------------------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        return (f"<tf.Variable '{self._name}' shape={self.shape} dtype={self.dtype.name}, "
                f"numpy={_numpy_repr(self._value.array)}>")

    def __format__(self, spec: str) -> str:
        return format(self.read_value(), spec)

    # ------------------------------------------------------------------------------------ conversions
    def __float__(self) -> float:
        return float(self._value.array)

    def __int__(self) -> int:
        return int(self._value.array)

    def __bool__(self) -> bool:
        return bool(self._value.array)

    def __len__(self) -> int:
        return len(self._value)

    def __iter__(self):
        return iter(self._read())

    def __getitem__(self, key):
        return self._read()[key]

    __hash__ = object.__hash__


class _VariableReference:
    __slots__ = ("_variable",)

    def __init__(self, variable: Variable) -> None:
        self._variable = variable

    def deref(self) -> Variable:
        return self._variable

    def __eq__(self, other) -> bool:
        return isinstance(other, _VariableReference) and other._variable is self._variable

    def __hash__(self) -> int:
        return id(self._variable)


def _install_operators() -> None:
    """Give Variable every operator of Tensor: each reads the variable, then applies the tensor's operator."""
    names = ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
             "rmod", "pow", "rpow", "matmul", "rmatmul", "neg", "abs", "lt", "le", "gt", "ge", "eq", "ne", "and",
             "rand", "or", "ror", "invert")
    for short in names:
        dunder = f"__{short}__"

        def operator(self, *args, _dunder=dunder):
            return getattr(self._read(), _dunder)(*args)

        operator.__name__ = dunder
        setattr(Variable, dunder, operator)
