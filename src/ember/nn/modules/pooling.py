"""Pooling modules over (N, C, L) and NCHW inputs: ``MaxPool1d``, ``AvgPool1d``, ``AdaptiveAvgPool1d``,
``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``."""
from __future__ import annotations

from ...autograd.tensor import Tensor
from .. import functional as F
from ._utils import single
from .module import Module


def _check_pool_input(layer: str, input: Tensor, dims: int = 2) -> None:
    if input.ndim not in (dims + 1, dims + 2):
        if dims == 1:
            raise ValueError(f"{layer}: expected a 2-d (C, L) or 3-d (N, C, L) input, received shape {input.shape}")
        raise ValueError(f"{layer}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, received shape {input.shape}")


class _MaxPoolNd(Module):
    """What MaxPool1d and MaxPool2d share: their arguments (stride defaults to ``kernel_size``)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Maximum over sliding ``kernel_size`` windows of each channel of an (N, C, L) input.

    Args:
        kernel_size: int.
        stride: int; default ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel; default 0.
        dilation: spacing between window elements, default 1.
        return_indices: also return the position along L of each maximum.
        ceil_mode: round the output size up instead of down.

    Shape:
        input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, L_out)`` with
        ``L_out = floor((L + 2*p - d*(k-1) - 1) / s + 1)`` (ceil with ``ceil_mode``).
    """

    def forward(self, input: Tensor):
        _check_pool_input("MaxPool1d", input, dims=1)
        return F.max_pool1d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            dilation=self.dilation, ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Maximum over sliding ``kernel_size`` windows of each channel.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default ``kernel_size``.
        padding: implicit -inf padding on both sides, int or (ph, pw), at most half the kernel; default 0.
        dilation: spacing between window elements, default 1.
        return_indices: also return the index of each maximum within its flattened (H*W) plane.
        ceil_mode: round the output size up instead of down.

    Shape:
        input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)`` with
        ``H_out = floor((H + 2*ph - dh*(kh-1) - 1) / sh + 1)`` (ceil with ``ceil_mode``).
    """

    def forward(self, input: Tensor):
        _check_pool_input("MaxPool2d", input)
        return F.max_pool2d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            dilation=self.dilation, ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool2d(Module):
    """Mean over sliding ``kernel_size`` windows of each channel.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default ``kernel_size``.
        padding: implicit zero padding on both sides, int or (ph, pw); default 0.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count padded zeros in the mean's divisor (default True).
        divisor_override: divide by this number instead of the window size.

    Shape:
        input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)`` with
        ``H_out = floor((H + 2*ph - kh) / sh + 1)`` (ceil with ``ceil_mode``).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        _check_pool_input("AvgPool2d", input)
        return F.avg_pool2d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                            divisor_override=self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """Mean over sliding ``kernel_size`` windows of each channel of an (N, C, L) input.

    Args:
        kernel_size: int (or a 1-tuple).
        stride: int; default ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel; default 0.
        ceil_mode: round the output size up instead of down.
        count_include_pad: count padded zeros in the mean's divisor (default True).

    Shape:
        input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, L_out)`` with ``L_out = floor((L + 2*p - k) / s + 1)``
        (ceil with ``ceil_mode``).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        # stored as 1-tuples, as PyTorch's AvgPool1d does
        self.kernel_size = single(kernel_size, "kernel_size", "AvgPool1d")
        self.stride = single(stride if stride is not None else kernel_size, "stride", "AvgPool1d")
        self.padding = single(padding, "padding", "AvgPool1d")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        _check_pool_input("AvgPool1d", input, dims=1)
        return F.avg_pool1d(input, self.kernel_size, stride=self.stride, padding=self.padding,
                            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """Average pooling whose windows are chosen to produce a fixed output length.

    Args:
        output_size: int, the output length L_out.

    Shape:
        input ``(N, C, L)`` or ``(C, L)``; output ``(N, C, L_out)``.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        _check_pool_input("AdaptiveAvgPool1d", input, dims=1)
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(Module):
    """Average pooling whose windows are chosen to produce a fixed output size.

    Args:
        output_size: int or (H_out, W_out); None in a position keeps that input size.

    Shape:
        input ``(N, C, H, W)`` or ``(C, H, W)``; output ``(N, C, H_out, W_out)``.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        _check_pool_input("AdaptiveAvgPool2d", input)
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


__all__ = ["MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]
