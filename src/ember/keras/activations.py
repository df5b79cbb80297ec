"""Keras activations by name: ``"relu"``, ``"softmax"``, ``"sigmoid"``, … (functions of Tensors)."""
from __future__ import annotations

from .. import functions as F


def linear(x):
    return x


def relu(x):
    return F.relu(x)


def sigmoid(x):
    return F.sigmoid(x)


def tanh(x):
    return F.tanh(x)


def softmax(x, axis=-1):
    return F.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return F.log_softmax(x, dim=axis)


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def gelu(x, approximate=False):
    return F.gelu(x, "tanh" if approximate else "none")


def softplus(x):
    return F.softplus(x)


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(x, negative_slope)


def silu(x):
    return F.silu(x)


swish = silu


def relu6(x):
    return F.relu6(x)


def hard_sigmoid(x):
    """``clip(x / 6 + 1/2, 0, 1)`` (Keras 3's), i.e. ``relu6(x + 3) / 6``."""
    return F.relu6(x + 3.0) * (1.0 / 6.0)


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also named ``hard_swish``)."""
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def selu(x):
    """``scale * elu(x, alpha)`` with Keras's (and Klambauer et al.'s) alpha 1.6732632 and scale 1.0507010."""
    return F.elu(x, 1.6732632423543772) * 1.0507009873554805


def softsign(x):
    """``x / (|x| + 1)``."""
    return x / (F.abs(x) + 1.0)


def mish(x):
    return F.mish(x)


def exponential(x):
    return F.exp(x)


_BY_NAME = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "elu": elu, "gelu": gelu, "softplus": softplus, "leaky_relu": leaky_relu,
    "silu": silu, "swish": silu, "relu6": relu6, "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu,
    "hard_swish": hard_silu, "selu": selu, "softsign": softsign, "mish": mish, "exponential": exponential,
}


def get(identifier):
    """The activation function for a name, callable or None (None → linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"activations.get: unknown activation {identifier!r}; expected one of {sorted(_BY_NAME)}")


def serialize(activation) -> str:
    for name, function in _BY_NAME.items():
        if function is activation:
            return name
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME:
        return name
    raise TypeError(f"activations.serialize: {activation!r} is not a named Keras activation")
