"""``LayerNorm``: normalisation over the trailing dimensions of each sample."""
from __future__ import annotations

import operator

from ...autograd.tensor import Tensor
from .. import functional as F
from .. import init
from ._utils import new_parameter
from .module import Module


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` dimensions: ``(x - mean) / sqrt(var + eps) * weight + bias``.

    Args:
        normalized_shape: int or tuple, the trailing shape to normalise over.
        eps: added to the (biased) variance (default 1e-5).
        elementwise_affine: learn ``weight`` (init ones) and, with ``bias=True``, ``bias`` (init zeros), both of
            shape ``normalized_shape`` (default True).
        bias: learn the additive bias when ``elementwise_affine`` (default True).
        device, dtype: where and in which floating dtype to create the parameters.

    Shape:
        input ``(*, *normalized_shape)``; output the same.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)):
            self.normalized_shape = tuple(operator.index(size) for size in normalized_shape)
        else:
            self.normalized_shape = (operator.index(normalized_shape),)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = new_parameter(self.normalized_shape, device, dtype)
            if bias:
                self.bias = new_parameter(self.normalized_shape, device, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight ones, bias zeros."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        trailing = len(self.normalized_shape)
        if input.ndim < trailing or tuple(input.shape[input.ndim - trailing:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm({self.normalized_shape}): expected input with trailing shape {self.normalized_shape}, "
                f"received shape {input.shape}"
            )
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


__all__ = ["LayerNorm"]
