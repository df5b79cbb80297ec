"""Raw kernels for 2-d convolution and pooling on (N, C, H, W) arrays: padding, im2col, col2im, window slices.

``im2col`` copies every receptive field of an input into one matrix (one strided view, one copy) so that a
convolution is a single GEMM; ``col2im`` is its adjoint, kh*kw strided-slice additions (never ``np.add.at``).
Everything goes through the array module of the input (NumPy or CuPy); this file is where a dedicated CUDA
kernel can replace the strided-view versions.

Memory order: arrays may arrive with batch and channel axes in either memory order, (N, C, ...) or
(C, N, ...); the convolution keeps its results in (C, N, H, W) memory (returned as (N, C, H, W) views), which
is the order its GEMMs produce and consume, and the helpers below preserve whichever order they are given.
"""
from __future__ import annotations

from .device import get_array_module

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]  # ((top, bottom), (left, right))


def window(offset: int, dilation: int, stride: int, count: int) -> slice:
    """The input positions that kernel tap ``offset`` touches along one axis, for ``count`` output positions."""
    start = offset * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def output_size(size: int, kernel: int, stride: int, padding_total: int, dilation: int) -> int:
    """Number of windows along one axis: ``(size + padding_total - dilation*(kernel-1) - 1) // stride + 1``."""
    return (size + padding_total - dilation * (kernel - 1) - 1) // stride + 1


def channels_major(array) -> bool:
    """Whether the channel axis (1) varies slower in memory than the batch axis (0), i.e. (C, N, H, W) order."""
    return array.shape[0] > 1 and array.shape[1] > 1 and array.strides[1] > array.strides[0]


def empty_spatial(reference, height: int, width: int, zeros: bool = False):
    """An (N, C, height, width) array with ``reference``'s dtype and batch/channel memory order."""
    xp = get_array_module(reference)
    make = xp.zeros if zeros else xp.empty
    batch, channels = reference.shape[:2]
    if channels_major(reference):
        return make((channels, batch, height, width), dtype=reference.dtype).transpose(1, 0, 2, 3)
    return make((batch, channels, height, width), dtype=reference.dtype)


def pad2d(x, padding: Padding, value=0):
    """``x`` (N, C, H, W) surrounded by ``value``: ((top, bottom), (left, right)) rows and columns.

    Returns ``x`` itself when there is nothing to pad; otherwise a new array in ``x``'s memory order.
    """
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right):
        return x
    height, width = x.shape[2:]
    out = empty_spatial(x, top + height + bottom, left + width + right)
    # fill only the border, so that the interior is written once
    out[:, :, :top] = value
    out[:, :, top + height:] = value
    out[:, :, top:top + height, :left] = value
    out[:, :, top:top + height, left + width:] = value
    out[:, :, top:top + height, left:left + width] = x
    return out


def im2col(x, kernel_size: Pair, stride: Pair, padding: Padding, dilation: Pair):
    """Receptive fields of ``x`` (N, C, H, W) as a matrix of shape (C*kh*kw, N*Ho*Wo).

    Rows are ordered (channel, kernel row, kernel column), like a weight (C_out, C, kh, kw) flattened to
    (C_out, C*kh*kw); columns are ordered (n, ho, wo). The result is C-contiguous, so
    ``weight_matrix @ cols`` is one GEMM whose (C_out, N*Ho*Wo) result reads as (N, C_out, Ho, Wo) after a
    transpose view.
    """
    xp = get_array_module(x)
    padded = pad2d(x, padding)
    batch, channels, height, width = padded.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    out_h = output_size(height, kh, sh, 0, dh)
    out_w = output_size(width, kw, sw, 0, dw)
    step_n, step_c, step_h, step_w = padded.strides
    fields = xp.lib.stride_tricks.as_strided(
        padded,
        shape=(channels, kh, kw, batch, out_h, out_w),
        strides=(step_c, dh * step_h, dw * step_w, step_n, sh * step_h, sw * step_w),
    )
    return xp.ascontiguousarray(fields).reshape(channels * kh * kw, batch * out_h * out_w)


def col2im(cols, input_shape, kernel_size: Pair, stride: Pair, padding: Padding, dilation: Pair):
    """The adjoint of ``im2col``: sum the (C*kh*kw, N*Ho*Wo) matrix back onto an (N, C, H, W) input.

    The result is an (N, C, H, W) view of an array in (C, N, H, W) memory order.
    """
    xp = get_array_module(cols)
    batch, channels, height, width = input_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    (top, bottom), (left, right) = padding
    padded_h, padded_w = top + height + bottom, left + width + right
    out_h = output_size(padded_h, kh, sh, 0, dh)
    out_w = output_size(padded_w, kw, sw, 0, dw)
    fields = cols.reshape(channels, kh, kw, batch, out_h, out_w)
    image = xp.zeros((channels, batch, padded_h, padded_w), dtype=cols.dtype)
    for i in range(kh):
        rows = window(i, dh, sh, out_h)
        for j in range(kw):
            image[:, :, rows, window(j, dw, sw, out_w)] += fields[:, i, j]
    return image[:, :, top:top + height, left:left + width].transpose(1, 0, 2, 3)


__all__ = ["window", "output_size", "channels_major", "empty_spatial", "pad2d", "im2col", "col2im"]
