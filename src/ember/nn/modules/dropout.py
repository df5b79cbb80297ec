"""``Dropout`` and ``Dropout2d``: active in training mode, the identity in eval mode."""
from __future__ import annotations

from ...autograd.tensor import Tensor
from ...functions.activation import warn_inplace_has_no_effect
from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        if inplace:
            warn_inplace_has_no_effect(type(self).__name__)
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training mode, zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Args:
        p: probability of an element being zeroed (default 0.5).
        inplace: accepted for PyTorch code; True warns that it has no effect (the result is a new tensor).

    Shape: input ``(*)``, output the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """In training mode, zero whole channels (all of H×W) with probability ``p``, scaling the rest by
    ``1 / (1 - p)``.

    Args:
        p: probability of a channel being zeroed (default 0.5).
        inplace: accepted for PyTorch code; True warns that it has no effect (the result is a new tensor).

    Shape: input ``(N, C, H, W)`` or ``(C, H, W)``, output the same.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)


__all__ = ["Dropout", "Dropout2d"]
