"""Activation modules: thin stateful wrappers over the functions of ``ember.nn.functional``.

Each applies elementwise (Softmax/LogSoftmax along ``dim``) and keeps the input's shape: input ``(*)``,
output ``(*)``. ``inplace=True`` is accepted for PyTorch code and shown in the repr, and warns once, at
construction, that it has no effect: results are new tensors (the same values), inputs are left unchanged.
"""
from __future__ import annotations

from ...autograd.tensor import Tensor
from ...functions.activation import warn_inplace_has_no_effect
from .. import functional as F
from .module import Module


def _inplace_text(inplace: bool, leading: str = "") -> str:
    return f"{leading}inplace=True" if inplace else ""


def _accept_inplace(module: Module, inplace: bool) -> bool:
    if inplace:
        warn_inplace_has_no_effect(type(module).__name__, stacklevel=4)
    return inplace


class ReLU(Module):
    """``max(x, 0)``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return _inplace_text(self.inplace)


class ReLU6(Module):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input)

    def extra_repr(self) -> str:
        return _inplace_text(self.inplace)


class LeakyReLU(Module):
    """``x`` for ``x > 0``, ``negative_slope * x`` otherwise (default slope 0.01)."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_text(self.inplace, ", ")


class ELU(Module):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise (default alpha 1.0)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_text(self.inplace, ", ")


class GELU(Module):
    """``x * Φ(x)``; ``approximate="tanh"`` uses the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', received {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class SiLU(Module):
    """``x * sigmoid(x)`` (swish)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)

    def extra_repr(self) -> str:
        return _inplace_text(self.inplace)


class Mish(Module):
    """``x * tanh(softplus(x))``; any shape."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = _accept_inplace(self, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input)

    def extra_repr(self) -> str:
        return _inplace_text(self.inplace)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``; the slices along ``dim`` sum to 1.

    ``dim=None`` follows PyTorch's legacy rule (dim 0 for 0-, 1- and 3-d inputs, else 1) with a warning:
    pass ``dim`` explicitly.
    """

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, computed stably; ``dim=None`` as for ``Softmax``."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = [
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "SiLU", "Softplus", "Softmax", "LogSoftmax",
    "Mish",
]
