"""Elementwise arithmetic and math: forward on arrays, backward with Ember ops (so it differentiates again).

Broadcasting: forward follows NumPy; each backward returns gradients in the broadcast shape and the engine
sums them back to each input's shape.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend.device import Device, get_array_module
from ..backend.layout import copy_in_order, empty_ordered, memory_order
from ._convert import as_tensor_like, promote


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _category(dtype) -> int:
    return 0 if dtype.kind == "b" else 1 if dtype.kind in "iu" else 2


def _promote_within_categories(dtype_list):
    top = builtins.max(_category(dtype) for dtype in dtype_list)
    return np.result_type(*[dtype for dtype in dtype_list if _category(dtype) == top])


def result_type(*tensors) -> np.dtype:
    """The dtype PyTorch gives an op on ``tensors`` (Python and NumPy numbers allowed beside a Tensor).

    A higher category (bool < integer < floating) wins outright (int64 + float32 → float32); within a category
    sizes promote (float32 + float64 → float64); a 0-d tensor does not widen the dtype of a tensor with
    dimensions unless its category is higher; numbers take the dtype they would combine with.
    """
    reference = next((t for t in tensors if isinstance(t, Tensor)), None)
    if reference is None:
        raise TypeError("result_type: expected at least one Tensor")
    operands = [as_tensor_like(t, reference) for t in tensors]
    dimensioned = [t.dtype for t in operands if t.ndim]
    zero_dim = [t.dtype for t in operands if not t.ndim]
    if not dimensioned or not zero_dim:
        return _promote_within_categories(dimensioned or zero_dim)
    with_dims = _promote_within_categories(dimensioned)
    without_dims = _promote_within_categories(zero_dim)
    return with_dims if _category(with_dims) >= _category(without_dims) else without_dims


def _common_dtype(a: Tensor, b: Tensor):
    """Cast ``a`` and ``b`` to their PyTorch result type (differentiable between floating dtypes)."""
    if a.dtype == b.dtype:
        return a, b
    dtype = result_type(a, b)
    return to_dtype(a, dtype), to_dtype(b, dtype)


def _floating(x: Tensor) -> Tensor:
    """Integer and bool inputs of floating functions (exp, sqrt, ...) become the default float dtype."""
    return x if x.dtype.kind in "fc" else to_dtype(x, dtypes.get_default_dtype())


# ----------------------------------------------------------------------------------------- arithmetic
def _dense_order(array):
    """The memory order of a NumPy ``array`` (``backend.layout.memory_order``) when it is dense in it (a
    transposed C-contiguous array) and not C order itself; None otherwise."""
    if type(array) is not np.ndarray or array.ndim < 2 or array.flags.c_contiguous:
        return None
    order = memory_order(array)
    return order if array.transpose(order).flags.c_contiguous else None


def _in_larger_order(ufunc, a, b):
    """``ufunc(a, b)`` laid out in memory as the larger operand is, for NumPy arrays of one dtype where that
    operand has the result's shape and lies densely in an order other than C (the convolutions' (C, H, W, N)
    memory) and the other is broadcast to it: the smaller is first copied in that order (it is small), so
    that the pass runs over contiguous memory and the result keeps the order. NumPy itself gives such a pair a
    C-order result, walking the larger operand with strides (a broadcast add over (C, H, W, N) memory at
    64x32x28x28: 1.2 ms and a C-order result, against 0.3 ms). Operands of one shape dense in two orders,
    neither of them C (a feature map plus an attention output seen as one), give ``a``'s order, where NumPy
    gives C order, that of neither; operands of one shape and order get a result in it that starts on a
    cache line (``empty_ordered``), which malloc's do not. None where it does not apply."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype != b.dtype or a.dtype.kind != "f":
        return None
    if a.shape == b.shape:
        order = _dense_order(a)
        if order is None:  # C order (or not dense): NumPy's result, aligned where it is dense C
            if a.ndim < 2 or not (a.flags.c_contiguous and b.flags.c_contiguous):
                return None
            order = tuple(range(a.ndim))
        elif _dense_order(b) is None:
            return None
        # two orders, neither C (a feature map plus a transposed sequence): a's
        return ufunc(a, b, out=empty_ordered(np, a.shape, order, a.dtype))
    large, small = (a, b) if a.size >= b.size else (b, a)
    order = _dense_order(large)
    if order is None or small.ndim > large.ndim:
        return None
    if np.broadcast_shapes(a.shape, b.shape) != large.shape:
        return None
    small = copy_in_order(np, small.reshape((1,) * (large.ndim - small.ndim) + small.shape), order)
    out = empty_ordered(np, large.shape, order, large.dtype)
    return ufunc(*((large, small) if large is a else (small, large)), out=out)


class Add(Primitive):
    """``a + b``. Fast path (NumPy): ``forward_in_order``, a broadcast result in the larger operand's memory
    order (a broadcast operand's gradient is summed back by the engine's ``SumTo``, in memory order too)."""

    fast_forward = ("forward_in_order",)

    def forward(self, a, b):
        return a + b

    def forward_in_order(self, a, b):
        return _in_larger_order(np.add, a, b)

    def backward(self, grad):
        return grad, grad


class Sub(Primitive):
    """``a - b``. Fast path as ``Add``'s."""

    fast_forward = ("forward_in_order",)

    def forward(self, a, b):
        return a - b

    def forward_in_order(self, a, b):
        return _in_larger_order(np.subtract, a, b)

    def backward(self, grad):
        return grad, -grad


class Mul(Primitive):
    """``a * b``. Fast path: ``forward_in_order`` (as ``Add``'s)."""

    fast_forward = ("forward_in_order",)

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def forward_in_order(self, a, b):
        y = _in_larger_order(np.multiply, a, b)
        if y is not None:
            self.save_for_backward(a, b)
        return y

    def backward(self, grad):
        a, b = self.saved_tensors
        return grad * b, grad * a


class Div(Primitive):
    """``a / b``. Fast path: ``forward_in_order`` (as ``Add``'s)."""

    fast_forward = ("forward_in_order",)

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def forward_in_order(self, a, b):
        y = _in_larger_order(np.true_divide, a, b)
        if y is not None:
            self.save_for_backward(a, b)
        return y

    def backward(self, grad):
        a, b = self.saved_tensors
        grad_a = grad / b
        return grad_a, -grad_a * a / b


class Neg(Primitive):
    def forward(self, x):
        return -x

    def backward(self, grad):
        return -grad


class PowScalar(Primitive):
    """``x ** exponent`` for a Python number ``exponent``."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        self.save_for_backward(x)
        if self.exponent == 2:
            return x * x
        return x ** x.dtype.type(self.exponent) if x.dtype.kind == "f" else x**self.exponent

    def backward(self, grad):
        (x,) = self.saved_tensors
        if self.exponent == 0:  # x ** -1 * 0 would give nan at x = 0
            return zeros_like_data(grad)
        if self.exponent == 2:
            return grad * (x * 2.0)
        return grad * (x ** (self.exponent - 1) * float(self.exponent))


class RPowScalar(Primitive):
    """``base ** x`` for a Python number ``base``."""

    def __init__(self, base):
        self.base = base

    def forward(self, x):
        y = get_array_module(x).asarray(x.dtype.type(self.base) ** x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * y * float(np.log(self.base))


class Pow(Primitive):
    """``a ** b`` for two tensors."""

    def forward(self, a, b):
        y = get_array_module(a).asarray(a**b)
        self.save_for_backward(a, b, y)
        return y

    def backward(self, grad):
        a, b, y = self.saved_tensors
        grad_a = grad * b * a ** (b - 1)
        grad_b = grad * y * log(where(a > 0, a, ones_like_data(a)))
        return grad_a, grad_b


# --------------------------------------------------------------------------------------- unary math
class Exp(Primitive):
    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.exp(x))  # a 0-d ufunc result is a NumPy scalar; saved outputs must be arrays
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * y


class Log(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / x


class Log1p(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log1p(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / (x + 1.0)


class Sqrt(Primitive):
    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.sqrt(x))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad / (y * 2.0)


class Rsqrt(Primitive):
    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.reciprocal(xp.sqrt(x)))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * (y * y * y) * -0.5


class Sin(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).sin(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * cos(x)


class Cos(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).cos(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return -grad * sin(x)


class Abs(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).abs(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * _constant_result(get_array_module(x.array).sign(x.array))


class Clamp(Primitive):
    """Clip to ``[low, high]``; the gradient passes where ``low <= x <= high`` (PyTorch's convention)."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        xp = get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        self.save_for_backward(inside)
        return xp.clip(x, self.low, self.high).astype(x.dtype, copy=False)

    def backward(self, grad):
        (inside,) = self.saved_tensors
        return where(inside, grad, zeros_like_data(grad))


class Maximum(Primitive):
    """Elementwise maximum; a tie splits the gradient evenly, as in PyTorch."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a).maximum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        return _split_by_winner(grad, a.array > b.array, a.array == b.array)


class Minimum(Primitive):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return get_array_module(a).minimum(a, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        return _split_by_winner(grad, a.array < b.array, a.array == b.array)


def _split_by_winner(grad, a_wins, tie):
    dtype = grad.dtype
    weight_a = a_wins.astype(dtype) + tie.astype(dtype) * dtype.type(0.5)
    weight_b = 1 - weight_a
    return grad * Tensor(weight_a), grad * Tensor(weight_b)


class Where(Primitive):
    """``where(condition, a, b)``; the condition is a bool array (no gradient)."""

    def forward(self, condition, a, b):
        self.save_for_backward(condition)
        return get_array_module(a).where(condition, a, b)

    def backward(self, grad):
        (condition,) = self.saved_tensors
        zero = zeros_like_data(grad)
        return None, where(condition, grad, zero), where(condition, zero, grad)


class Cast(Primitive):
    """Change dtype; the gradient is cast back to the input's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.input_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, grad):
        return to_dtype(grad, self.input_dtype)


class ToDevice(Primitive):
    """Move to another device; the gradient moves back."""

    def __init__(self, device: Device):
        self.device = device

    def forward(self, x):
        from ..backend.device import device_of

        self.source = device_of(x)
        if self.device.type == "cpu":
            return x.get() if hasattr(x, "get") else x
        cupy = self.device.xp
        with cupy.cuda.Device(self.device.index):
            return cupy.asarray(x)

    def backward(self, grad):
        return to_device(grad, self.source)


class Clone(Primitive):
    """A copy in the same memory order (PyTorch's ``preserve_format``)."""

    def forward(self, x):
        return x.copy(order="K")

    def backward(self, grad):
        return grad


class StepFunction(Primitive):
    """A piecewise-constant function (sign, floor, ceil, round): its gradient is zero everywhere, as in
    PyTorch, so the output stays in the graph and ``backward`` through it gives zeros."""

    def __init__(self, function: str, decimals: int = 0):
        self.function, self.decimals = function, decimals

    def forward(self, x):
        xp = get_array_module(x)
        if self.function == "round":
            return xp.round(x, self.decimals)
        return getattr(xp, self.function)(x)

    def backward(self, grad):
        return zeros_like_data(grad)


# --------------------------------------------------------------------------------- non-differentiable
def _constant_result(array) -> Tensor:
    return Tensor(array)


def sign(x: Tensor) -> Tensor:
    """Sign of each element (-1, 0, 1); differentiable with a zero gradient."""
    return StepFunction("sign")(x)


def floor(x: Tensor) -> Tensor:
    """Largest integer not above each element; zero gradient."""
    return StepFunction("floor")(x) if x.dtype.kind == "f" else x


def ceil(x: Tensor) -> Tensor:
    return StepFunction("ceil")(x) if x.dtype.kind == "f" else x


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even (as PyTorch) to ``decimals`` places; zero gradient."""
    return StepFunction("round", decimals)(x) if x.dtype.kind == "f" else x


def _compare(name: str, ufunc: str):
    def compare(a, b) -> Tensor:
        a, b = promote(a, b)
        _broadcast_check(name, a, b)
        return Tensor(getattr(get_array_module(a.array), ufunc)(a.array, b.array))

    compare.__name__ = name
    compare.__doc__ = f"Elementwise ``{name}``, returning a bool tensor (not differentiable)."
    return compare


eq = _compare("eq", "equal")
ne = _compare("ne", "not_equal")
lt = _compare("lt", "less")
le = _compare("le", "less_equal")
gt = _compare("gt", "greater")
ge = _compare("ge", "greater_equal")
logical_and = _compare("logical_and", "logical_and")
logical_or = _compare("logical_or", "logical_or")
logical_xor = _compare("logical_xor", "logical_xor")


def logical_not(x: Tensor) -> Tensor:
    return Tensor(get_array_module(x.array).logical_not(x.array))


def isnan(x: Tensor) -> Tensor:
    return Tensor(get_array_module(x.array).isnan(x.array))


def isinf(x: Tensor) -> Tensor:
    return Tensor(get_array_module(x.array).isinf(x.array))


def isfinite(x: Tensor) -> Tensor:
    return Tensor(get_array_module(x.array).isfinite(x.array))


def equal(a: Tensor, b: Tensor) -> bool:
    """True if both tensors have the same shape and elements."""
    return a.shape == b.shape and bool((a.array == b.array).all())


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    return bool(get_array_module(a.array).allclose(a.array, b.array, rtol=rtol, atol=atol))


def zeros_like_data(x: Tensor) -> Tensor:
    """A constant tensor of zeros with x's shape, dtype and device."""
    return Tensor(get_array_module(x.array).zeros(x.shape, dtype=x.dtype))


def ones_like_data(x: Tensor) -> Tensor:
    return Tensor(get_array_module(x.array).ones(x.shape, dtype=x.dtype))


# ------------------------------------------------------------------------------------------- wrappers
def add(a, b, alpha=1) -> Tensor:
    """``a + alpha * b`` with NumPy broadcasting."""
    a, b = promote(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    _broadcast_check("add", a, b)
    return Add()(*_common_dtype(a, b))


def sub(a, b, alpha=1) -> Tensor:
    a, b = promote(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    _broadcast_check("sub", a, b)
    if a.dtype.kind == "b" and b.dtype.kind == "b":
        raise TypeError("sub: subtracting two bool tensors is not supported; use logical_xor")
    return Sub()(*_common_dtype(a, b))


def mul(a, b) -> Tensor:
    a, b = promote(a, b)
    _broadcast_check("mul", a, b)
    return Mul()(*_common_dtype(a, b))


def div(a, b, rounding_mode=None) -> Tensor:
    """True division; integer inputs give the default float dtype. ``rounding_mode="floor"`` floors."""
    a, b = promote(a, b)
    _broadcast_check("div", a, b)
    if rounding_mode == "floor":
        return Tensor(get_array_module(a.array).floor_divide(a.array, b.array))
    if rounding_mode == "trunc":
        xp = get_array_module(a.array)
        return Tensor(xp.trunc(a.array / b.array).astype(xp.result_type(a.array, b.array)))
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', received {rounding_mode!r}")
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        a, b = to_dtype(a, dtypes.get_default_dtype()), to_dtype(b, dtypes.get_default_dtype())
    return Div()(*_common_dtype(a, b))


def neg(x: Tensor) -> Tensor:
    if x.dtype.kind == "b":
        raise TypeError("neg: negating a bool tensor is not supported; use logical_not")
    return Neg()(x)


def pow(a, b) -> Tensor:  # noqa: A001 - PyTorch's name
    """``a ** b``; either may be a Python number. An integer tensor with a float number gives the default
    float dtype, as in PyTorch."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        exponent = b.item() if isinstance(b, (np.generic, np.ndarray)) else b
        if a.dtype.kind not in "fc":
            if isinstance(exponent, float):
                a = to_dtype(a, dtypes.get_default_dtype())
            elif exponent < 0:
                raise ValueError(f"pow: integer tensors cannot be raised to the negative integer power {exponent}")
        return PowScalar(exponent)(a)
    if not isinstance(a, Tensor) and np.ndim(a) == 0:
        base = a.item() if isinstance(a, (np.generic, np.ndarray)) else a
        if isinstance(base, float) and b.dtype.kind not in "fc":
            b = to_dtype(b, dtypes.get_default_dtype())
        if b.dtype.kind in "fc" and base > 0:
            return RPowScalar(float(base))(b)
    a, b = promote(a, b)
    _broadcast_check("pow", a, b)
    return Pow()(*_common_dtype(a, b))


def square(x: Tensor) -> Tensor:
    return PowScalar(2)(x)


def reciprocal(x: Tensor) -> Tensor:
    return div(1.0, x)


def exp(x: Tensor) -> Tensor:
    return Exp()(_floating(x))


def log(x: Tensor) -> Tensor:
    return Log()(_floating(x))


def log1p(x: Tensor) -> Tensor:
    return Log1p()(_floating(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt()(_floating(x))


def rsqrt(x: Tensor) -> Tensor:
    return Rsqrt()(_floating(x))


def sin(x: Tensor) -> Tensor:
    return Sin()(_floating(x))


def cos(x: Tensor) -> Tensor:
    return Cos()(_floating(x))


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs()(x)


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit values to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if x.dtype.kind not in "fc" and builtins.any(isinstance(bound, float) for bound in (min, max)):
        x = to_dtype(x, dtypes.get_default_dtype())  # as PyTorch: an integer tensor clamped to 0.5 gives floats
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        result = x
        if min is not None:
            result = maximum(result, min)
        if max is not None:
            result = minimum(result, max)
        return result
    return Clamp(min, max)(x)


clip = clamp


def maximum(a, b) -> Tensor:
    a, b = promote(a, b)
    _broadcast_check("maximum", a, b)
    return Maximum()(*_common_dtype(a, b))


def minimum(a, b) -> Tensor:
    a, b = promote(a, b)
    _broadcast_check("minimum", a, b)
    return Minimum()(*_common_dtype(a, b))


def where(condition, a=None, b=None) -> Tensor:
    """Pick ``a`` where ``condition`` holds, else ``b`` (all three broadcast); with only ``condition``, the
    indices where it holds. ``a`` and ``b`` may be numbers: ``where(mask, 1.0, 0.0)`` is float32, as in PyTorch."""
    if a is None and b is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _scalar_branch(a, condition)  # where(mask, 1.0, 0.0): a Python float gives the default float dtype
    a, b = promote(a, b)
    condition_array = condition.array if isinstance(condition, Tensor) else get_array_module(a.array).asarray(condition)
    if condition_array.dtype != np.bool_:
        condition_array = condition_array.astype(bool)
    try:
        np.broadcast_shapes(condition_array.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition {condition_array.shape}, a {a.shape} and b {b.shape} cannot be broadcast together"
        ) from None
    return Where()(Tensor(condition_array), *_common_dtype(a, b))


def _scalar_branch(value, condition) -> Tensor:
    """A number given as a branch of ``where`` with no Tensor branch: float → default float dtype, int → int64,
    bool → bool, on the condition's device."""
    from .creation import tensor

    if not isinstance(value, (bool, int, float, np.number, np.bool_)):
        raise TypeError(f"where: the branches must be Tensors or numbers, received {type(value).__name__}")
    device = condition.device if isinstance(condition, Tensor) else None
    return tensor(value, device=device)


def to_dtype(x: Tensor, dtype) -> Tensor:
    """Cast to ``dtype``; differentiable between floating dtypes."""
    dtype = dtypes.to_numpy_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast(dtype)(x)


def to_device(x: Tensor, device) -> Tensor:
    return ToDevice(Device(device))(x)


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` that stays in the graph."""
    return Clone()(x)


def floor_divide(a, b) -> Tensor:
    """Elementwise floor division (not differentiable)."""
    a, b = promote(a, b)
    return Tensor(get_array_module(a.array).floor_divide(a.array, b.array))


def remainder(a, b) -> Tensor:
    """Elementwise remainder with the sign of the divisor, as Python's ``%`` (not differentiable)."""
    a, b = promote(a, b)
    return Tensor(get_array_module(a.array).remainder(a.array, b.array))


def rsub(a, b) -> Tensor:
    return sub(b, a)


def rdiv(a, b) -> Tensor:
    return div(b, a)


def rpow(a, b) -> Tensor:
    return pow(b, a)


__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "square", "reciprocal", "exp", "log", "log1p", "sqrt", "rsqrt",
    "sin", "cos", "abs", "clamp", "clip", "maximum", "minimum", "where", "sign", "floor", "ceil", "round",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not", "isnan",
    "isinf", "isfinite", "equal", "allclose", "to_dtype", "to_device", "clone", "as_tensor_like", "floor_divide",
    "remainder", "rsub", "rdiv", "rpow", "zeros_like_data", "ones_like_data", "result_type",
]
