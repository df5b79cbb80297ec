"""``LayerNorm`` (the trailing dimensions of each sample) and ``GroupNorm`` (groups of channels)."""
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


class GroupNorm(Module):
    """Group normalization: the channels split into ``num_groups`` groups, each normalised per sample over its
    channels and spatial positions, then ``* weight + bias`` per channel.

    Args:
        num_groups: groups; must divide ``num_channels``.
        num_channels: channels ``C`` of the input.
        eps: added to the (biased) variance (default 1e-5).
        affine: learn ``weight`` (init ones) and ``bias`` (init zeros), both ``(C,)`` (default True).
        device, dtype: where and in which floating dtype to create the parameters.

    Shape:
        input ``(N, C, *)``; output the same.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.num_groups = operator.index(num_groups)
        self.num_channels = operator.index(num_channels)
        if self.num_groups < 1 or self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = new_parameter((self.num_channels,), device, dtype)
            self.bias = new_parameter((self.num_channels,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight ones, bias zeros."""
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                             f"(N, {self.num_channels}, *), received shape {input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


__all__ = ["LayerNorm", "GroupNorm"]
