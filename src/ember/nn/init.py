"""Weight initialisers, as ``torch.nn.init``: each fills ``tensor.array`` in place and returns the tensor.

Random initialisers draw from Ember's generator (``ember.manual_seed`` makes them reproducible) in the
tensor's floating dtype, so a float32 weight never passes through float64. Fans follow PyTorch: for a
weight of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import dtypes
from ..backend import random as ember_random
from ..backend.device import get_array_module


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu,
    sqrt(2 / (1 + negative_slope²)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    linear_fns = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d")
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(
            f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, received shape "
            f"{tensor.shape}"
        )
    receptive_field = int(np.prod(tensor.shape[2:], dtype=np.int64))
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _draw_dtype(tensor: Tensor, name: str) -> np.dtype:
    """The dtype to draw in: the tensor's own float32/float64, float32 for other floats."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a Tensor, received {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating tensor, received dtype {tensor.dtype}")
    return tensor.dtype if tensor.dtype in (dtypes.float32, dtypes.float64) else dtypes.float32


def _source(tensor: Tensor):
    """The generator for the tensor's device (CuPy's random module on CUDA)."""
    if tensor.device.type == "cuda":
        return ember_random.cuda_generator()
    return ember_random.generator()


def _uniform_array(tensor: Tensor, low: float, high: float, name: str):
    dtype = _draw_dtype(tensor, name)
    draws = _source(tensor).random(tensor.shape, dtype=dtype)
    return draws * dtype.type(high - low) + dtype.type(low)


def _normal_array(tensor: Tensor, mean: float, std: float, name: str):
    dtype = _draw_dtype(tensor, name)
    draws = _source(tensor).standard_normal(tensor.shape, dtype=dtype)
    return draws * dtype.type(std) + dtype.type(mean)


def _write(tensor: Tensor, values) -> Tensor:
    # direct data access: initialisation is not an operation to record, whatever the grad mode
    tensor.array[...] = values
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples from U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, received a={a}, b={b}")
    return _write(tensor, _uniform_array(tensor, a, b, "uniform_"))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    if std < 0:
        raise ValueError(f"normal_: expected std >= 0, received {std}")
    return _write(tensor, _normal_array(tensor, mean, std, "normal_"))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Tensor:
    """Fill with samples from N(mean, std²) conditioned on [a, b] (``a``/``b`` are absolute bounds).

    Samples outside [a, b] are redrawn until every element lies inside, so the distribution is exact.
    """
    dtype = _draw_dtype(tensor, "trunc_normal_")
    if not (std > 0 and a < b):
        raise ValueError(f"trunc_normal_: expected std > 0 and a < b, received std={std}, a={a}, b={b}")
    mass = 0.5 * (math.erf((b - mean) / (std * math.sqrt(2))) - math.erf((a - mean) / (std * math.sqrt(2))))
    if mass < 1e-3:
        raise ValueError(
            f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.2e} of the mass of N({mean}, {std}²); "
            "choose bounds closer to the mean"
        )
    source = _source(tensor)
    xp = get_array_module(tensor.array)
    values = source.standard_normal(tensor.shape, dtype=dtype) * dtype.type(std) + dtype.type(mean)
    outside = xp.flatnonzero((values < a) | (values > b))
    flat = values.reshape(-1)
    while outside.size:  # each round redraws only the rejected entries: ~log(n) / mass rounds
        redraw = source.standard_normal(outside.size, dtype=dtype) * dtype.type(std) + dtype.type(mean)
        flat[outside] = redraw
        outside = outside[(redraw < a) | (redraw > b)]
    return _write(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    return _write(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _write(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _write(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d tensor with the identity matrix (ones on the diagonal, rectangular allowed)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-d tensors are supported, received shape {tensor.shape}")
    xp = get_array_module(tensor.array)
    return _write(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return _write(tensor, _uniform_array(tensor, -bound, bound, "xavier_uniform_"))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(tensor, _normal_array(tensor, 0.0, std, "xavier_normal_"))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, name: str) -> float | None:
    if 0 in tensor.shape:
        warnings.warn(f"{name}: initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, ``gain = calculate_gain(
    nonlinearity, a)`` and ``fan`` the fan_in (default) or fan_out."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _write(tensor, _uniform_array(tensor, -bound, bound, "kaiming_uniform_"))


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: N(0, std²) with ``std = gain / sqrt(fan)``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    if std is None:
        return tensor
    return _write(tensor, _normal_array(tensor, 0.0, std, "kaiming_normal_"))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, signs corrected so that the
    distribution is uniform (Saxe et al. 2013); dimensions after the first are flattened."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, received {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    dtype = _draw_dtype(tensor, "orthogonal_")
    xp = get_array_module(tensor.array)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flattened = _source(tensor).standard_normal((rows, cols), dtype=dtype)
    if rows < cols:
        flattened = flattened.T
    q, r = xp.linalg.qr(flattened)
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (q * dtype.type(gain)).reshape(tensor.shape))


__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]
