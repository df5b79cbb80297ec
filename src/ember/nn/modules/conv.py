"""``Conv1d`` and ``Conv2d``: convolutions over (N, C, L) and (N, C, H, W) inputs."""
from __future__ import annotations

import math

import numpy as np

from ...autograd.tensor import Tensor
from ...backend.device import get_array_module
from ...functions.indexing import getitem
from .. import functional as F
from .. import init
from ._utils import check_size, new_parameter, pair, single
from .module import Module

# PyTorch's padding modes and the np.pad modes that build the same index pattern
_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_by_indexing(layer: str, input: Tensor, pads: tuple, mode: str) -> Tensor:
    """Pad the trailing spatial axes with ``mode`` by gathering along each; the gradient sums back through
    the gathers.

    ``pads`` holds one ``(before, after)`` pair per spatial axis, first axis first.
    """
    spatial = input.shape[-len(pads):]
    names = ("length",) if len(pads) == 1 else ("height", "width")
    for size, (before, after), axis in zip(spatial, pads, names):
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"{layer}: padding_mode='reflect' needs padding smaller than the input {axis} {size}, received "
                f"{(before, after)}"
            )
        if mode == "circular" and max(before, after) > size:
            raise ValueError(
                f"{layer}: padding_mode='circular' needs padding at most the input {axis} {size}, received "
                f"{(before, after)}"
            )
    xp = get_array_module(input.array)
    for offset, (size, (before, after)) in enumerate(zip(spatial, pads)):
        positions = xp.asarray(np.pad(np.arange(size), (before, after), mode=_PADDING_MODES[mode]))
        trailing = (slice(None),) * (len(pads) - 1 - offset)
        input = getitem(input, (Ellipsis, positions) + trailing)
    return input


class _ConvNd(Module):
    """What Conv1d and Conv2d share: argument checks, parameters, PyTorch's initialisation, padding modes."""

    _dims = 2
    _spatial = "H, W"  # the spatial axes as error messages spell them

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        layer = type(self).__name__
        expand = single if self._dims == 1 else pair
        self.in_channels = check_size(in_channels, "in_channels", layer, minimum=1)
        self.out_channels = check_size(out_channels, "out_channels", layer, minimum=1)
        self.groups = check_size(groups, "groups", layer, minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by "
                f"groups ({groups})"
            )
        self.kernel_size = expand(kernel_size, "kernel_size", layer)
        self.stride = expand(stride, "stride", layer)
        self.dilation = expand(dilation, "dilation", layer)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(
                f"{layer}: kernel_size, stride and dilation must be positive, received kernel_size="
                f"{self.kernel_size}, stride={self.stride}, dilation={self.dilation}"
            )
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                kind = "an int" if self._dims == 1 else "an int, a pair"
                raise ValueError(f"{layer}: padding must be {kind}, 'same' or 'valid', received {padding!r}")
            if padding == "same" and self.stride != (1,) * self._dims:
                raise ValueError(f"{layer}: padding='same' is not supported for strided convolutions (stride={stride})")
            self.padding = padding
        else:
            self.padding = expand(padding, "padding", layer)
            if min(self.padding) < 0:
                raise ValueError(f"{layer}: padding must be non-negative, received {self.padding}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{layer}: padding_mode must be one of {sorted(_PADDING_MODES)}, received {padding_mode!r}"
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

    def _explicit_padding(self) -> tuple:
        """One ``(before, after)`` pair per spatial axis, whatever form ``padding`` was given in."""
        if self.padding == "valid":
            return ((0, 0),) * self._dims
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return tuple((total // 2, total - total // 2) for total in totals)
        return tuple((p, p) for p in self.padding)

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) for the weight, U(-1/sqrt(fan_in), ...) for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _convolve(self, input: Tensor, padding) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        dims = self._dims
        if input.ndim not in (dims + 1, dims + 2) or input.shape[-dims - 1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}({self.in_channels}, {self.out_channels}): expected input of shape "
                f"(N, {self.in_channels}, {self._spatial}) or ({self.in_channels}, {self._spatial}), received shape "
                f"{input.shape}"
            )
        padding = self.padding
        if self.padding_mode != "zeros":
            input = _pad_by_indexing(type(self).__name__, input, self._explicit_padding(), self.padding_mode)
            padding = 0
        return self._convolve(input, padding)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv1d(_ConvNd):
    """1-d convolution (cross-correlation, as in PyTorch) over an ``(N, C, L)`` input.

    Args:
        in_channels: channels of the input.
        out_channels: channels produced.
        kernel_size: int (or a 1-tuple).
        stride: int, default 1.
        padding: int, ``"valid"`` (no padding) or ``"same"`` (output length equals input length; stride 1 only;
            an odd total padding puts the extra element on the right), default 0.
        dilation: int, default 1.
        groups: split channels into this many independent groups, default 1.
        bias: learn a per-output-channel bias (default True).
        padding_mode: ``"zeros"`` (default), ``"reflect"``, ``"replicate"`` or ``"circular"``.
        device, dtype: where and in which floating dtype to create the parameters.

    Shape:
        input ``(N, C_in, L)`` or ``(C_in, L)``; output ``(N, C_out, L_out)`` (or without N) with
        ``L_out = floor((L + 2*p - d*(k-1) - 1) / s + 1)``.

    Attributes:
        weight: ``(out_channels, in_channels // groups, k)`` from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
            ``fan_in = in_channels // groups * k`` (``kaiming_uniform_`` with ``a=sqrt(5)``).
        bias: ``(out_channels,)`` from the same distribution.

    Runs as ``F.conv1d``, a 2-d convolution of an (N, C, 1, L) view with a (C_out, C_in/groups, 1, k) kernel.
    """

    _dims = 1
    _spatial = "L"

    def _convolve(self, input: Tensor, padding) -> Tensor:
        return F.conv1d(input, self.weight, self.bias, stride=self.stride, padding=padding, dilation=self.dilation,
                        groups=self.groups)


class Conv2d(_ConvNd):
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

    _dims = 2
    _spatial = "H, W"

    def _convolve(self, input: Tensor, padding) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, stride=self.stride, padding=padding, dilation=self.dilation,
                        groups=self.groups)


class _ConvTransposeNd(Module):
    """What ConvTranspose1d and ConvTranspose2d share: checks, parameters and PyTorch's initialisation."""

    _dims = 2
    _spatial = "H, W"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        super().__init__()
        layer = type(self).__name__
        expand = single if self._dims == 1 else pair
        self.in_channels = check_size(in_channels, "in_channels", layer, minimum=1)
        self.out_channels = check_size(out_channels, "out_channels", layer, minimum=1)
        self.groups = check_size(groups, "groups", layer, minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                             f"divisible by groups ({groups})")
        self.kernel_size = expand(kernel_size, "kernel_size", layer)
        self.stride = expand(stride, "stride", layer)
        self.dilation = expand(dilation, "dilation", layer)
        self.padding = expand(padding, "padding", layer)
        self.output_padding = expand(output_padding, "output_padding", layer)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"{layer}: kernel_size, stride and dilation must be positive, received kernel_size="
                             f"{self.kernel_size}, stride={self.stride}, dilation={self.dilation}")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise ValueError(f"{layer}: padding and output_padding must be non-negative, received padding="
                             f"{self.padding}, output_padding={self.output_padding}")
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{layer}: output_padding {self.output_padding} must be smaller than either stride "
                             f"{self.stride} or dilation {self.dilation}")
        if padding_mode != "zeros":
            raise ValueError(f"{layer}: only padding_mode='zeros' is supported, received {padding_mode!r}")
        self.padding_mode = padding_mode
        self.weight = new_parameter(
            (self.in_channels, self.out_channels // self.groups) + self.kernel_size, device, dtype
        )
        if bias:
            self.bias = new_parameter((self.out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    # PyTorch's default, with fan_in = out_channels // groups * prod(kernel_size) (dim 1 of this layout)
    reset_parameters = _ConvNd.reset_parameters

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        dims = self._dims
        if input.ndim not in (dims + 1, dims + 2) or input.shape[-dims - 1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}({self.in_channels}, {self.out_channels}): expected input of shape "
                f"(N, {self.in_channels}, {self._spatial}) or ({self.in_channels}, {self._spatial}), received shape "
                f"{input.shape}"
            )
        if output_size is not None and len(output_size) not in (dims, input.ndim):
            raise ValueError(f"{type(self).__name__}: output_size must have {dims} or {input.ndim} elements, "
                             f"received {tuple(output_size)}")
        function = F.conv_transpose1d if dims == 1 else F.conv_transpose2d
        return function(input, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        output_padding=self.output_padding, groups=self.groups, dilation=self.dilation,
                        output_size=output_size)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            text += f", padding={self.padding}"
        if self.output_padding != (0,) * self._dims:
            text += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution over an ``(N, C_in, L)`` input: the gradient of ``Conv1d`` wrt its input.

    Args as ``ConvTranspose2d`` with one spatial axis.

    Shape:
        input ``(N, C_in, L)`` or ``(C_in, L)``; output ``(N, C_out, L_out)``,
        ``L_out = (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``.

    Attributes:
        weight: ``(in_channels, out_channels // groups, k)``; bias ``(out_channels,)``; both from
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)), ``fan_in = out_channels // groups * k``.
    """

    _dims = 1
    _spatial = "L"


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution over an ``(N, C_in, H, W)`` input: the gradient of ``Conv2d`` wrt its input.

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: int or (kh, kw). stride: default 1. padding: cropped from each side of the full output,
            default 0. output_padding: added at the bottom/right, smaller than stride or dilation, default 0.
        groups: default 1. bias: default True. dilation: default 1. padding_mode: only ``"zeros"``.
        device, dtype: where and in which floating dtype to create the parameters.

    ``forward(input, output_size=None)``: ``output_size`` ((H_out, W_out), or with N and C) picks the output
    padding that gives that size.

    Shape:
        input ``(N, C_in, H, W)`` or ``(C_in, H, W)``; output ``(N, C_out, H_out, W_out)``,
        ``H_out = (H-1)*sh - 2*ph + dh*(kh-1) + output_padding_h + 1``, likewise ``W_out``.

    Attributes:
        weight: ``(in_channels, out_channels // groups, kh, kw)``; bias ``(out_channels,)``; both from
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)), ``fan_in = out_channels // groups * kh * kw``.
    """

    _dims = 2
    _spatial = "H, W"


__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
