"""``Conv2d``: 2-d convolution over NCHW inputs."""
from __future__ import annotations

import math

import numpy as np

from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.indexing import getitem
from .. import functional as F
from .. import init
from ._utils import check_size, new_parameter, pair
from .module import Module

# PyTorch's padding modes and the np.pad modes that build the same index pattern
_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_by_indexing(input: Tensor, padding: tuple, mode: str) -> Tensor:
    """Pad H and W with ``mode`` by gathering rows and columns; the gradient sums back through the gather.

    ``padding`` is ``(left, right, top, bottom)``, as for ``F.pad``.
    """
    left, right, top, bottom = padding
    height, width = input.shape[-2:]
    for size, before, after, axis in ((height, top, bottom, "height"), (width, left, right, "width")):
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"Conv2d: padding_mode='reflect' needs padding smaller than the input {axis} {size}, received "
                f"{(before, after)}"
            )
        if mode == "circular" and max(before, after) > size:
            raise ValueError(
                f"Conv2d: padding_mode='circular' needs padding at most the input {axis} {size}, received "
                f"{(before, after)}"
            )
    xp = get_array_module(input.data)
    rows = xp.asarray(np.pad(np.arange(height), (top, bottom), mode=_PADDING_MODES[mode]))
    cols = xp.asarray(np.pad(np.arange(width), (left, right), mode=_PADDING_MODES[mode]))
    return getitem(getitem(input, (Ellipsis, rows, slice(None))), (Ellipsis, cols))


class Conv2d(Module):
    """2-d convolution (cross-correlation, as in PyTorch) over an ``(N, C, H, W)`` input.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw), default 1.
        padding: int, (ph, pw), ``"valid"`` (no padding) or ``"same"`` (output size equals input size; stride 1
            only; an odd total padding puts the extra row/column at the bottom/right), default 0.
        dilation: int or (dh, dw), default 1.
        groups: split channels into this many independent groups, default 1.
        bias: learn a per-output-channel bias (default True).
        padding_mode: ``"zeros"`` (default), ``"reflect"``, ``"replicate"`` or ``"circular"``.
        device, dtype: where and in which floating dtype to create the parameters.

    Shape:
        input ``(N, C_in, H, W)`` or ``(C_in, H, W)``; output ``(N, C_out, H_out, W_out)`` (or without N) with
        ``H_out = floor((H + 2*ph - dh*(kh-1) - 1) / sh + 1)``, likewise ``W_out``.

    Attributes:
        weight: ``(out_channels, in_channels // groups, kh, kw)`` from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            ``fan_in = in_channels // groups * kh * kw`` (``kaiming_uniform_`` with ``a=sqrt(5)``).
        bias: ``(out_channels,)`` from the same distribution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        self.in_channels = check_size(in_channels, "in_channels", "Conv2d", minimum=1)
        self.out_channels = check_size(out_channels, "out_channels", "Conv2d", minimum=1)
        self.groups = check_size(groups, "groups", "Conv2d", minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by "
                f"groups ({groups})"
            )
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(
                f"Conv2d: kernel_size, stride and dilation must be positive, received kernel_size="
                f"{self.kernel_size}, stride={self.stride}, dilation={self.dilation}"
            )
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', received {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions (stride={stride})")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", "Conv2d")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, received {self.padding}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"Conv2d: padding_mode must be one of {sorted(_PADDING_MODES)}, received {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        self.weight = new_parameter(
            (self.out_channels, self.in_channels // self.groups) + self.kernel_size, device, dtype
        )
        if bias:
            self.bias = new_parameter((self.out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _explicit_padding(self) -> tuple[int, int, int, int]:
        """``(left, right, top, bottom)`` in pixels, whatever form ``padding`` was given in."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            (top, left) = (total // 2 for total in totals)
            return (left, totals[1] - left, top, totals[0] - top)
        return (self.padding[1], self.padding[1], self.padding[0], self.padding[0])

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(fan_in), ...) for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(
                f"Conv2d({self.in_channels}, {self.out_channels}): expected input of shape (N, {self.in_channels}, "
                f"H, W) or ({self.in_channels}, H, W), received shape {input.shape}"
            )
        padding = self.padding
        if self.padding_mode != "zeros":
            input = _pad_by_indexing(input, self._explicit_padding(), self.padding_mode)
            padding = 0
        return F.conv2d(input, self.weight, self.bias, stride=self.stride, padding=padding, dilation=self.dilation,
                        groups=self.groups)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


__all__ = ["Conv2d"]
