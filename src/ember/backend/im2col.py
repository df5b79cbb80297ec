"""Raw kernels for 2-d convolution and pooling on (N, C, H, W) arrays: padding, im2col, col2im, window slices.

``columns`` (im2col) copies the receptive fields of a band of output rows into one matrix (one strided view,
one copy) so that a convolution is a GEMM per band; ``add_columns`` (col2im) is its adjoint, kh*kw
strided-slice additions (never ``np.add.at``). Everything goes through the array module of the input (NumPy
or CuPy); this file is where a dedicated CUDA kernel can replace the strided-view versions.

Memory order: arrays are (N, C, H, W) by shape but may lie in memory in any order of those axes. The
convolution works in (C, H, W, N) memory — the batch innermost — and returns its results as (N, C, H, W)
views of it: then every strided copy of im2col and every strided addition of col2im moves runs of N (or, at
stride 1, Wo*N) contiguous numbers instead of rows of Wo, and each channel's pixels are one contiguous block
for batch norm. Padding and pooling keep whatever order they are given.
"""
from __future__ import annotations

from .device import get_array_module
from .layout import empty_ordered, memory_order

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]  # ((top, bottom), (left, right))
CHWN = (1, 2, 3, 0)  # the convolution's memory order, as axes of an (N, C, H, W) array from slowest to fastest


def window(offset: int, dilation: int, stride: int, count: int) -> slice:
    """The input positions that kernel tap ``offset`` touches along one axis, for ``count`` output positions."""
    start = offset * dilation
    return slice(start, start + stride * (count - 1) + 1, stride)


def output_size(size: int, kernel: int, stride: int, padding_total: int, dilation: int) -> int:
    """Number of windows along one axis: ``(size + padding_total - dilation*(kernel-1) - 1) // stride + 1``."""
    return (size + padding_total - dilation * (kernel - 1) - 1) // stride + 1


def channels_major(array) -> bool:
    """Whether the channel axis (1) varies slower in memory than the batch axis (0), e.g. (C, H, W, N) order."""
    return array.shape[0] > 1 and array.shape[1] > 1 and array.strides[1] > array.strides[0]


def empty_spatial(reference, height: int, width: int, zeros: bool = False, order: tuple | None = None):
    """An (N, C, height, width) array with ``reference``'s dtype, in ``order`` or ``reference``'s memory order."""
    xp = get_array_module(reference)
    shape = reference.shape[:2] + (height, width)
    return empty_ordered(xp, shape, memory_order(reference) if order is None else order, reference.dtype, zeros)


def pad2d(x, padding: Padding, value=0, order: tuple | None = None):
    """``x`` (N, C, H, W) surrounded by ``value``: ((top, bottom), (left, right)) rows and columns.

    The result lies in memory ``order`` (default: ``x``'s own). Returns ``x`` itself when there is nothing
    to pad and it is already in that order; otherwise a new array.
    """
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right) and (order is None or memory_order(x) == order):
        return x
    height, width = x.shape[2:]
    out = empty_spatial(x, top + height + bottom, left + width + right, order=order)
    # fill only the border, so that the interior is written once
    out[:, :, :top] = value
    out[:, :, top + height:] = value
    out[:, :, top:top + height, :left] = value
    out[:, :, top:top + height, left + width:] = value
    out[:, :, top:top + height, left:left + width] = x
    return out


def fields(padded, kernel_size: Pair, stride: Pair, dilation: Pair, rows: tuple[int, int]):
    """The receptive fields of output rows ``rows`` = (start, stop) of an already padded (N, C, Hp, Wp) input,
    as a (C, kh, kw, stop - start, Wo, N) strided view (no copy)."""
    xp = get_array_module(padded)
    batch, channels, height, width = padded.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    out_w = output_size(width, kw, sw, 0, dw)
    step_n, step_c, step_h, step_w = padded.strides
    start, stop = rows
    return xp.lib.stride_tricks.as_strided(
        padded[:, :, start * sh:],
        shape=(channels, kh, kw, stop - start, out_w, batch),
        strides=(step_c, dh * step_h, dw * step_w, sh * step_h, sw * step_w, step_n),
    )


def columns(padded, kernel_size: Pair, stride: Pair, dilation: Pair, rows: tuple[int, int], out=None):
    """im2col of output rows ``rows`` of an already padded input: a (C*kh*kw, (stop-start)*Wo*N) matrix,
    written into ``out`` (a C-contiguous array of that size) when given."""
    xp = get_array_module(padded)
    view = fields(padded, kernel_size, stride, dilation, rows)
    height = view.shape[0] * view.shape[1] * view.shape[2]
    if out is None:
        return xp.ascontiguousarray(view).reshape(height, -1)
    xp.copyto(out.reshape(view.shape), view)
    return out.reshape(height, -1)


def add_columns(image, cols, kernel_size: Pair, stride: Pair, dilation: Pair, rows: tuple[int, int]):
    """The adjoint of ``columns``: add the (C*kh*kw, (stop-start)*Wo*N) matrix of output rows ``rows`` onto
    ``image``, a padded input in (C, Hp, Wp, N) memory given as a (C, Hp, Wp, N) array."""
    channels, _, width, batch = image.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    out_w = output_size(width, kw, sw, 0, dw)
    start, stop = rows
    view = cols.reshape(channels, kh, kw, stop - start, out_w, batch)
    for i in range(kh):
        first = start * sh + i * dh
        image_rows = slice(first, first + sh * (stop - start - 1) + 1, sh)
        for j in range(kw):
            image[:, image_rows, window(j, dw, sw, out_w)] += view[:, i, j]


__all__ = ["CHWN", "window", "output_size", "channels_major", "empty_spatial", "pad2d", "fields", "columns",
           "add_columns"]
