"""Raw kernels for 2-d convolution and pooling on (N, C, H, W) arrays: padding, im2col, col2im, window slices.

``columns`` (im2col) copies the receptive fields of a band of output rows into one matrix (one strided view,
one copy) so that a convolution is a GEMM per band; ``add_columns`` (col2im) is its adjoint, kh*kw
strided-slice additions (never ``np.add.at``). Everything goes through the array module of the input (NumPy
or CuPy); on NumPy arrays both go to compiled kernels when they could be built (``backend/compiled.py``),
which also pad as they read. This file is where a dedicated CUDA kernel can replace the strided-view versions.

Memory order: arrays are (N, C, H, W) by shape but may lie in memory in any order of those axes. The
convolution works in (C, H, W, N) memory — the batch innermost — and returns its results as (N, C, H, W)
views of it: then every strided copy of im2col and every strided addition of col2im moves runs of N (or, at
stride 1, Wo*N) contiguous numbers instead of rows of Wo, and each channel's pixels are one contiguous block
for batch norm. Padding and pooling keep whatever order they are given.
"""
from __future__ import annotations

from . import compiled
from .device import get_array_module
from .layout import copy_in_order, empty_ordered, memory_order

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


def column_source(x, padding: Padding):
    """``x`` (N, C, H, W) as ``columns`` reads it: ``(image, offset)``, a (C, H', W', N) array and the
    (top, left) zero rows and columns before it that are not stored in it.

    With compiled kernels that is ``x`` itself (a view) when the batch is its fastest axis, else ``x`` copied
    into (C, H, W, N) memory (one pass, instead of kh*kw passes that each jump a whole image from number to
    number), and the padding, which the kernel adds as it reads; otherwise ``x`` padded into new
    (C, H, W, N) memory, and (0, 0).
    """
    if compiled.for_arrays(x) is not None:
        (top, _), (left, _) = padding
        if x.shape[0] > 1 and memory_order(x)[-1] != 0:
            x = copy_in_order(get_array_module(x), x, CHWN)
        return x.transpose(1, 2, 3, 0), (top, left)
    return pad2d(x, padding, order=CHWN).transpose(1, 2, 3, 0), (0, 0)


def column_target(reference, shape: tuple, padding: Padding):
    """Zeros for ``add_columns`` to add onto: ``(image, offset, interior)`` for an input of (C, H, W, N)
    ``shape`` with ``reference``'s dtype; ``interior`` is the (C, H, W, N) gradient without the padding.

    With compiled kernels ``image`` is ``interior`` (the kernel drops what falls on the padding) and
    ``offset`` the (top, left) padding; otherwise ``image`` includes the padding and ``offset`` is (0, 0).
    """
    xp = get_array_module(reference)
    channels, height, width, batch = shape
    (top, bottom), (left, right) = padding
    if compiled.for_arrays(reference) is not None:
        image = xp.zeros(shape, dtype=reference.dtype)
        return image, (top, left), image
    image = xp.zeros((channels, top + height + bottom, left + width + right, batch), dtype=reference.dtype)
    return image, (0, 0), image[:, top:top + height, left:left + width]


def fields(image, kernel_size: Pair, stride: Pair, dilation: Pair, rows: tuple[int, int], out_w: int):
    """The receptive fields of output rows ``rows`` = (start, stop) of an already padded (C, Hp, Wp, N)
    ``image``, as a (C, kh, kw, stop - start, out_w, N) strided view (no copy)."""
    xp = get_array_module(image)
    channels, _, _, batch = image.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    step_c, step_h, step_w, step_n = image.strides
    start, stop = rows
    return xp.lib.stride_tricks.as_strided(
        image[:, start * sh:],
        shape=(channels, kh, kw, stop - start, out_w, batch),
        strides=(step_c, dh * step_h, dw * step_w, sh * step_h, sw * step_w, step_n),
    )


def columns(image, offset: Pair, kernel_size: Pair, stride: Pair, dilation: Pair, rows: tuple[int, int],
            out_w: int, out=None):
    """im2col of output rows ``rows`` = (start, stop) of ``(image, offset)`` from ``column_source``: a
    (C*kh*kw, (stop-start)*out_w*N) matrix, written into ``out`` (a C-contiguous array of that size) when
    given."""
    xp = get_array_module(image)
    channels, _, _, batch = image.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    start, stop = rows
    height = channels * kh * kw
    if out is None:
        out = xp.empty(height * (stop - start) * out_w * batch, dtype=image.dtype)
    kernels = compiled.for_arrays(image, out)
    if kernels is not None:
        matrix = out.reshape(height, -1)
        kernels.columns(image, matrix, kh, kw, sh, sw, dh, dw, offset[0], offset[1], start, stop, out_w, False)
        return matrix
    if offset != (0, 0):
        raise ValueError(f"columns: the NumPy path reads a padded image, received offset {offset}")
    view = fields(image, kernel_size, stride, dilation, rows, out_w)
    xp.copyto(out.reshape(view.shape), view)
    return out.reshape(height, -1)


def add_columns(image, offset: Pair, cols, kernel_size: Pair, stride: Pair, dilation: Pair,
                rows: tuple[int, int], out_w: int):
    """The adjoint of ``columns``: add the (C*kh*kw, (stop-start)*out_w*N) matrix of output rows ``rows``
    onto ``(image, offset, _)`` from ``column_target``."""
    channels, _, _, batch = image.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    start, stop = rows
    kernels = compiled.for_arrays(image, cols)
    if kernels is not None:
        kernels.columns(image, cols, kh, kw, sh, sw, dh, dw, offset[0], offset[1], start, stop, out_w, True)
        return
    if offset != (0, 0):
        raise ValueError(f"add_columns: the NumPy path adds onto a padded image, received offset {offset}")
    view = cols.reshape(channels, kh, kw, stop - start, out_w, batch)
    for i in range(kh):
        first = start * sh + i * dh
        image_rows = slice(first, first + sh * (stop - start - 1) + 1, sh)
        for j in range(kw):
            image[:, image_rows, window(j, dw, sw, out_w)] += view[:, i, j]


__all__ = ["CHWN", "window", "output_size", "channels_major", "empty_spatial", "pad2d", "column_source",
           "column_target", "fields", "columns", "add_columns"]
