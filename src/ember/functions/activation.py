"""Activations: tanh, sigmoid, relu, relu6, leaky_relu, elu, gelu, softplus, silu, erf, softmax, log_softmax.

Masks in backward are constants (the functions are piecewise), so double backward through them is exact.
"""
from __future__ import annotations

import math
import warnings
import weakref

import numpy as np

from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from ..backend.layout import copy_in_order, flat_views, memory_order
from ..backend.special import erf as erf_array
from ._convert import normalize_axis, pick_dim
from .elementwise import _floating, exp, where


class Tanh(Primitive):
    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.tanh(x))  # a 0-d ufunc result is a NumPy scalar; saved outputs must be arrays
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * (1.0 - y * y)


class Sigmoid(Primitive):
    def forward(self, x):
        xp = get_array_module(x)
        half = x.dtype.type(0.5)
        y = xp.asarray(xp.tanh(x * half) * half + half)  # stable for large |x|, one transcendental
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * (y * (1.0 - y))


def _relu_into(x, out):
    return np.maximum(x, x.dtype.type(0), out=out)


def _relu_grad_into(grad, y, out):
    kernels = compiled.for_arrays(grad, y, out)
    flats = None if kernels is None else flat_views(grad, y, out)
    if kernels is not None and flats is not None:
        kernels.relu_backward(*flats)  # one pass over memory in any axis order, no boolean temporary
        return out
    return np.multiply(grad, y > 0, out=out)


class ReLU(Primitive):
    """``max(x, 0)``. Fast paths: ``forward_split`` (large NumPy arrays in slices between threads, see
    ``backend.threads``) and ``backward_arrays`` (one compiled pass where the kernels are built, split the
    same way; NumPy's numbers)."""

    fast_forward = ("forward_split",)

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.asarray(xp.maximum(x, x.dtype.type(0)))
        self.save_for_backward(y)
        return y

    def forward_split(self, x):
        if type(x) is not np.ndarray or not x.ndim or threads.threads_for(x.size) == 1:
            return None
        y = np.empty_like(x)
        if not threads.split_elementwise(_relu_into, y, x):
            return None
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad * Tensor((y.array > 0).astype(grad.dtype))

    def backward_arrays(self, grad):
        (saved,) = self.saved_arrays
        if type(grad) is not np.ndarray or not grad.ndim:
            return None
        if grad.strides != saved.strides and grad.dtype == saved.dtype:
            # e.g. a crop's view, or (N, C, H, W) memory after a Flatten: one copy in the output's memory
            # order, then the contiguous pass (strided mixed orders are several times slower)
            grad = copy_in_order(np, grad, memory_order(saved))
        grad_input = np.empty_like(grad)
        if not threads.split_elementwise(_relu_grad_into, grad_input, grad, saved):
            _relu_grad_into(grad, saved, grad_input)
        return (grad_input,)


class PiecewiseLinear(Primitive):
    """``slope_below * x`` for ``x <= 0`` (or below ``low``), ``x`` in between, clipped at ``high``:
    leaky_relu and relu6/hardtanh."""

    def __init__(self, negative_slope: float, low: float = 0.0, high: float | None = None):
        self.negative_slope, self.low, self.high = negative_slope, low, high

    def forward(self, x):
        xp = get_array_module(x)
        dtype = x.dtype.type
        above = x > self.low
        slope = xp.where(above, dtype(1), dtype(self.negative_slope))
        if self.high is not None:
            slope = xp.where(x >= self.high, dtype(0), slope)
        self.save_for_backward(slope)
        if self.negative_slope == 0:
            y = xp.maximum(x, dtype(self.low))
        else:
            y = xp.where(above, x, x * dtype(self.negative_slope))
        if self.high is not None:
            y = xp.minimum(y, dtype(self.high))
        return y

    def backward(self, grad):
        (slope,) = self.saved_tensors
        return grad * slope


class ELU(Primitive):
    def __init__(self, alpha: float):
        self.alpha = alpha

    def forward(self, x):
        xp = get_array_module(x)
        dtype = x.dtype.type
        positive = x > 0
        y = xp.where(positive, x, dtype(self.alpha) * xp.expm1(xp.minimum(x, 0)))
        self.save_for_backward(x, positive)
        return y

    def backward(self, grad):
        x, positive = self.saved_tensors
        # alpha * exp(x) below zero, written with Ember ops so that it differentiates again
        below = exp(x) * self.alpha
        return where(positive, grad, grad * below)


class Softplus(Primitive):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``."""

    def __init__(self, beta: float, threshold: float):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = get_array_module(x)
        dtype = x.dtype.type
        scaled = x * dtype(self.beta)
        linear = scaled > self.threshold
        self.save_for_backward(x, linear)
        return xp.where(linear, x, xp.logaddexp(dtype(0), scaled) / dtype(self.beta))

    def backward(self, grad):
        x, linear = self.saved_tensors
        return where(linear, grad, grad * sigmoid(x * self.beta))


class Erf(Primitive):
    def forward(self, x):
        self.save_for_backward(x)
        return erf_array(x)

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * exp(-(x * x)) * (2.0 / math.sqrt(math.pi))


class GELU(Primitive):
    """``x * Φ(x)``, ``Φ(x) = (1 + erf(x / sqrt(2))) / 2``, in one node (the composed form took five nodes and
    as many passes each way). Keeps ``x`` and ``Φ(x)``; the gradient is ``grad * (Φ(x) + x * φ(x))``.
    Fast paths: ``forward_compiled`` (one compiled pass for contiguous NumPy arrays where the kernels are built:
    the same formulas, erf's and exp's numbers within float rounding of NumPy's) and ``backward_arrays`` (the
    compiled gradient, else the same formula in place on the saved arrays)."""

    fast_forward = ("forward_compiled",)

    def forward(self, x):
        cdf = erf_array(x * x.dtype.type(1 / math.sqrt(2.0)))
        cdf += 1
        cdf *= 0.5
        self.save_for_backward(x, cdf)
        return x * cdf

    def forward_compiled(self, x):
        kernels = compiled.for_arrays(x)
        if kernels is None or not x.flags.c_contiguous:
            return None
        y, cdf = np.empty_like(x), np.empty_like(x)
        kernels.gelu_forward(x, y, cdf)
        self.save_for_backward(x, cdf)
        return y

    def backward(self, grad):
        x = self.saved_tensors[0]  # Φ(x) is recomputed with Ember ops, so that it differentiates again
        cdf = (erf(x * (1 / math.sqrt(2.0))) + 1.0) * 0.5
        pdf = exp(x * x * -0.5) * (1 / math.sqrt(2.0 * math.pi))
        return grad * (cdf + x * pdf)

    def backward_arrays(self, grad):
        x, cdf = self.saved_arrays
        kernels = compiled.for_arrays(grad, x, cdf)
        if kernels is not None and grad.flags.c_contiguous and x.flags.c_contiguous and cdf.flags.c_contiguous:
            result = np.empty_like(x)
            kernels.gelu_backward(grad, x, cdf, result)
            return result
        xp = get_array_module(x)
        result = x * x
        result *= -0.5
        xp.exp(result, out=result)
        result *= x
        result *= 1 / math.sqrt(2.0 * math.pi)
        result += cdf
        result *= grad
        return result


class Softmax(Primitive):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = xp.exp(shifted)
        y /= y.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        weighted = grad * y
        return weighted - y * weighted.sum(self.axis, keepdim=True)


class LogSoftmax(Primitive):
    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        (y,) = self.saved_tensors
        return grad - exp(y) * grad.sum(self.axis, keepdim=True)


# ------------------------------------------------------------------------------------------- wrappers
def _check_floating(name: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating tensor, received dtype {x.dtype}")


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; integer inputs give the default float dtype."""
    return Tanh()(_floating(x))


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow; integer inputs give the default float dtype.

    The result remembers ``x`` while it lives (see ``logits_of``)."""
    x = _floating(x)
    return _remember_logits(Sigmoid()(x), x, "sigmoid", None)


def warn_inplace_has_no_effect(op: str, stacklevel: int = 3) -> None:
    """PyTorch's ``inplace=True`` (accepted so that its code runs): Ember always returns a new tensor, because
    overwriting an input that the graph may still need would change its gradients."""
    warnings.warn(f"{op}: inplace=True has no effect in Ember: the result is a new tensor and the input is left "
                  "unchanged (use the returned value)", UserWarning, stacklevel=stacklevel)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; the gradient at 0 is 0. ``inplace=True`` warns that it has no effect."""
    if inplace:
        warn_inplace_has_no_effect("relu")
    return ReLU()(x)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        warn_inplace_has_no_effect("relu6")
    return PiecewiseLinear(0.0, 0.0, 6.0)(x)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        warn_inplace_has_no_effect("hardtanh")
    return PiecewiseLinear(0.0, min_val, max_val)(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""
    _check_floating("leaky_relu", x)
    if inplace:
        warn_inplace_has_no_effect("leaky_relu")
    return PiecewiseLinear(negative_slope)(x)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for positive inputs, ``alpha * (exp(x) - 1)`` otherwise."""
    _check_floating("elu", x)
    if inplace:
        warn_inplace_has_no_effect("elu")
    return ELU(alpha)(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""
    _check_floating("softplus", x)
    return Softplus(beta, threshold)(x)


def erf(x: Tensor) -> Tensor:
    """The error function (float64: ~1e-15 accurate; float32: within 2.5 ulp); integers give float32."""
    return Erf()(_floating(x))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002 - PyTorch's name
    """``x * Φ(x)`` (``approximate="none"``, with erf) or its tanh approximation (``"tanh"``,
    ``0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))``); any shape, floating dtypes."""
    x = input
    _check_floating("gelu", x)
    if approximate == "none":
        return GELU()(x)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (tanh(inner) + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', received {approximate!r}")


SILU_BLOCK = 32768  # numbers per block of the NumPy SiLU passes: the block's arrays stay in L2 (4 times
#                    fewer ufunc calls than blocks that fit L1, which measured 1.6x slower)


def _sigmoid_into(x, out):
    """``sigmoid(x)`` into ``out`` as ``Sigmoid`` computes it: ``tanh(x/2)/2 + 1/2``."""
    half = x.dtype.type(0.5)
    np.multiply(x, half, out=out)
    np.tanh(out, out=out)
    out *= half
    out += half
    return out


def _silu_into(x, out):
    """``x * sigmoid(x)`` into ``out`` (1-d arrays): float32 in one compiled pass (``kernels/silu.c``, tanh as
    a rational function within a few ulps), else block by block with the reference's operations."""
    kernels = compiled.for_arrays(x, out) if x.dtype == np.float32 else None
    if kernels is not None:
        kernels.silu_forward(x, out)
        return out
    for start in range(0, x.size, SILU_BLOCK):
        block = slice(start, start + SILU_BLOCK)
        np.multiply(_sigmoid_into(x[block], out[block]), x[block], out=out[block])
    return out


def _silu_grad_into(grad, x, out):
    """``grad * (s * (1 + x * (1 - s)))`` with ``s = sigmoid(x)`` into ``out`` (1-d arrays), as
    ``_silu_into``."""
    kernels = compiled.for_arrays(grad, x, out) if x.dtype == np.float32 else None
    if kernels is not None:
        kernels.silu_backward(grad, x, out)
        return out
    one = x.dtype.type(1)
    scratch = np.empty(min(SILU_BLOCK, x.size), dtype=x.dtype)
    for start in range(0, x.size, SILU_BLOCK):
        block = slice(start, start + SILU_BLOCK)
        sig, factor = _sigmoid_into(x[block], out[block]), scratch[:len(out[block])]
        np.subtract(one, sig, out=factor)
        factor *= x[block]
        factor += one
        factor *= sig
        np.multiply(grad[block], factor, out=out[block])
    return out


def _silu_grad_array(grad, x):
    """SiLU's input gradient for NumPy arrays ``grad`` and ``x`` of one shape and float dtype, laid out as x:
    one layout pass where grad's differs, then ``_silu_grad_into`` over memory (split between threads); None
    where the arrays cannot be viewed flat."""
    if grad.strides != x.strides:
        grad = copy_in_order(np, grad, memory_order(x))
    grad_input = np.empty_like(x)
    if not threads.split_elementwise(_silu_grad_into, grad_input, grad, x):
        flats = flat_views(grad, x, grad_input)
        if flats is None:
            return None
        _silu_grad_into(*flats)
    return grad_input


class SiLU(Primitive):
    """``x * sigmoid(x)``, one node instead of two, keeping only ``x``.

    Fast paths (NumPy float arrays): ``forward_blocks`` and ``backward_arrays``, one compiled pass for float32
    (a rational tanh, within a few ulps of NumPy's), else the reference's operations on blocks of
    ``SILU_BLOCK`` numbers that stay in cache; split between threads when large, results laid out in memory
    as ``x`` is."""

    fast_forward = ("forward_blocks",)

    def forward(self, x):
        xp = get_array_module(x)
        half = x.dtype.type(0.5)
        self.save_for_backward(x)
        return xp.asarray(x * (xp.tanh(x * half) * half + half))

    def forward_blocks(self, x):
        if type(x) is not np.ndarray or x.dtype.kind != "f":
            return None
        y = np.empty_like(x)  # in x's memory order
        if not threads.split_elementwise(_silu_into, y, x):
            flats = flat_views(y, x)
            if flats is None:
                return None
            _silu_into(flats[1], flats[0])
        self.save_for_backward(x)
        return y

    def backward(self, grad):
        (x,) = self.saved_tensors
        s = sigmoid(x)
        return grad * (s * (1.0 + x * (1.0 - s)))

    def backward_arrays(self, grad):
        (x,) = self.saved_arrays
        if type(grad) is not np.ndarray or grad.dtype != x.dtype or x.dtype.kind != "f":
            return None
        return _silu_grad_array(grad, x)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (a.k.a. swish)."""
    _check_floating("silu", x)
    if inplace:
        warn_inplace_has_no_effect("silu")
    return SiLU()(x)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``; any shape, floating dtypes."""
    _check_floating("mish", x)
    if inplace:
        warn_inplace_has_no_effect("mish")
    return x * tanh(softplus(x))


def _softmax_axis(name, x, dim, axis):
    dim = pick_dim(name, dim, axis)
    if dim is None:
        dim = -1
    (axis_,) = normalize_axis(dim, x.ndim, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating tensor, received dtype {x.dtype}")
    return axis_


def softmax(x: Tensor, dim: int | None = None, dtype=None, *, axis=None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, stable for large inputs; ``dim`` defaults to the last.

    The result remembers ``x`` while it lives (see ``logits_of``)."""
    if dtype is not None:
        x = x.to(dtype)
    axis_ = _softmax_axis("softmax", x, dim, axis)
    if x.ndim == 0:
        return Softmax(0)(x.reshape(1)).reshape(())
    return _remember_logits(Softmax(axis_)(x), x, "softmax", axis_)


def log_softmax(x: Tensor, dim: int | None = None, dtype=None, *, axis=None) -> Tensor:
    """``x - logsumexp(x, dim)``, stable; ``dim`` defaults to the last."""
    if dtype is not None:
        x = x.to(dtype)
    axis_ = _softmax_axis("log_softmax", x, dim, axis)
    if x.ndim == 0:
        return LogSoftmax(0)(x.reshape(1)).reshape(())
    return LogSoftmax(axis_)(x)


# ------------------------------------------------------------------------------------ logits behind outputs
# What each live output of ``softmax``/``sigmoid`` was computed from: (weak reference to the output, input,
# activation, axis), keyed by the output's id and dropped when the output is freed. Kept with or without a
# recorded graph, so that evaluation under ``no_grad`` sees the same logits as training.
_LOGITS: dict = {}


def _remember_logits(output: Tensor, logits: Tensor, activation: str, axis: int | None) -> Tensor:
    key = id(output)

    def forget(reference, key=key):
        entry = _LOGITS.get(key)
        if entry is not None and entry[0] is reference:
            del _LOGITS[key]

    _LOGITS[key] = (weakref.ref(output, forget), logits, activation, axis)
    return output


def logits_of(output, activation: str, axis: int = -1) -> Tensor | None:
    """The logits ``x`` behind ``output`` when ``output`` is the very tensor that ``softmax(x, axis)``
    (``activation="softmax"``) or ``sigmoid(x)`` (``activation="sigmoid"``) returned; None otherwise.

    Cross-entropies on probabilities use it to compute from the logits instead, as Keras does with
    ``_keras_logits``: ``softmax(x)`` of saturated logits holds exact zeros in float32, ``x`` does not. A
    probability computed any other way (by hand with ``exp``, sliced, detached, converted) gives None. The
    input is kept only as long as ``output`` lives.
    """
    entry = _LOGITS.get(id(output))
    if entry is None or entry[0]() is not output or entry[2] != activation:
        return None
    if activation == "softmax" and normalize_axis(axis, output.ndim, "logits_of") != (entry[3],):
        return None
    return entry[1]


__all__ = [
    "tanh", "sigmoid", "relu", "relu6", "hardtanh", "leaky_relu", "elu", "softplus", "erf", "gelu", "silu",
    "softmax", "log_softmax", "mish",
]
