"""Pooling over (N, C, H, W): max_pool2d, avg_pool2d, adaptive_avg_pool2d; their 1-d forms over (N, C, L)
run as these over (N, C, 1, L) views.

Windows are visited one kernel tap at a time: tap (i, j) of every window at once is one strided slice of the
(padded) input, so a pool is kh*kw whole-array operations and no loop runs over batch, channels or pixels.
Max pooling of an unpadded (C, H, W, N) input (a convolution's output) goes instead to the compiled kernels,
one pass forward and one backward, split by channels between the cores.
Each pool's backward is a primitive whose own backward is the forward pattern again (a gather with the same
argmax for max pooling, the pool itself for average pooling), so gradients of any order work.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..autograd.function import Primitive
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..backend import compiled, threads
from ..backend.device import get_array_module
from ..backend.im2col import CHWN, channels_major, empty_spatial, output_size, pad2d, window
from ..backend.layout import copy_in_order, memory_order


class PoolGeometry(NamedTuple):
    """Windows of a 2-d pool over an input of spatial size ``input_size``.

    ``padding`` is ((top, bottom), (left, right)); the bottom/right parts include the extra rows/columns
    that ``ceil_mode`` windows reach past the input.
    """

    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    input_size: tuple
    output_size: tuple

    def taps(self):
        """``(offset, (rows, columns))`` for each kernel tap, in row-major order: the slices of the padded
        input that tap reads for all output positions."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        out_h, out_w = self.output_size
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, (window(i, dh, sh, out_h), window(j, dw, sw, out_w))

    def overlapping(self) -> bool:
        """Whether an input position can belong to more than one window."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1

    def padded_size(self) -> tuple:
        (top, bottom), (left, right) = self.padding
        height, width = self.input_size
        return top + height + bottom, left + width + right

    def crop(self, padded):
        """The input region of a padded (N, C, Hp, Wp) array (the array itself when nothing is padded)."""
        (top, _), (left, _) = self.padding
        height, width = self.input_size
        if padded.shape[2:] == (height, width):
            return padded
        return padded[:, :, top:top + height, left:left + width]


def _scatter_windows(geometry: PoolGeometry, values, order: tuple, mask_of=None):
    """Sum ``values`` (N, C, Ho, Wo) onto the input positions of each window: all of them, or, with
    ``mask_of(offset)``, only the tap where the mask holds. Returns (N, C, H, W) in memory ``order`` (the
    pooled input's, so that a gradient lies in memory as its input does)."""
    height, width = geometry.padded_size()
    padded = empty_spatial(values, height, width, zeros=True, order=order)
    xp = get_array_module(values)
    if memory_order(values) != order:  # one transposing copy, so that every tap below runs in memory order
        values = copy_in_order(xp, values, order)
    overlapping = geometry.overlapping()
    for offset, (rows, columns) in geometry.taps():
        target = padded[:, :, rows, columns]
        contribution = values if mask_of is None else values * mask_of(offset)
        if overlapping:
            target += contribution
        else:  # each input position is reached by exactly one tap: assign instead of add
            xp.copyto(target, contribution)
    return geometry.crop(padded)


# ------------------------------------------------------------------------------------------ max pool
def _compiled_max_pool(x, geometry: PoolGeometry):
    """``(y, argmax)`` from the compiled kernel, (N, C, Ho, Wo) views of (C, Ho, Wo, N) memory, split by
    channels between threads; None unless ``x`` lies in (C, H, W, N) memory, nothing is padded and a window
    has at most 256 taps (argmax is uint8, as the NumPy path's is)."""
    (kh, kw) = geometry.kernel_size
    kernels = compiled.for_arrays(x)
    stored = x.transpose(1, 2, 3, 0)
    if (kernels is None or geometry.padding != ((0, 0), (0, 0)) or kh * kw > 256
            or not stored.flags.c_contiguous):
        return None
    channels, _, _, batch = stored.shape
    y = np.empty((channels, *geometry.output_size, batch), dtype=x.dtype)
    argmax = np.empty(y.shape, dtype=np.uint8)
    threads.split_rows(
        lambda start, stop: kernels.max_pool_forward(stored, geometry.kernel_size, geometry.stride,
                                                     geometry.dilation, y, argmax, start, stop),
        channels, threads.threads_for(x.size))
    return y.transpose(3, 0, 1, 2), argmax.transpose(3, 0, 1, 2)


def _compiled_max_pool_scatter(grad, argmax, geometry: PoolGeometry, order: tuple):
    """Max pooling's backward from the compiled kernel, in (C, H, W, N) memory; None where
    ``_compiled_max_pool`` would not have run or the input did not lie in that order."""
    kernels = compiled.for_arrays(grad)
    stored_argmax = argmax.transpose(1, 2, 3, 0)
    if (kernels is None or order != CHWN or geometry.padding != ((0, 0), (0, 0)) or argmax.dtype != np.uint8
            or not stored_argmax.flags.c_contiguous):
        return None
    stored = grad.transpose(1, 2, 3, 0)
    if not stored.flags.c_contiguous:
        stored = copy_in_order(np, grad, CHWN).transpose(1, 2, 3, 0)
    channels, out_h, out_w, batch = stored.shape
    assign = compiled.windows_tile(geometry.kernel_size, geometry.stride, geometry.dilation, (out_h, out_w),
                                   geometry.input_size)  # every number written once: no zeros first
    grad_input = (np.empty if assign else np.zeros)((channels, *geometry.input_size, batch), dtype=grad.dtype)
    threads.split_rows(
        lambda start, stop: kernels.max_pool_backward(stored, stored_argmax, geometry.kernel_size, geometry.stride,
                                                      geometry.dilation, grad_input, start, stop, assign),
        channels, threads.threads_for(grad_input.size))
    return grad_input.transpose(3, 0, 1, 2)


class MaxPool2d(Primitive):
    """Max over each window, padding with -inf; the first maximum in row-major window order wins, and NaN
    propagates (as in PyTorch). With ``return_indices``, a second output holds flat H*W input indices."""

    def __init__(self, geometry: PoolGeometry, return_indices: bool):
        self.geometry, self.return_indices = geometry, return_indices

    fast_forward = ("forward_compiled",)

    def forward_compiled(self, x):
        fast = _compiled_max_pool(x, self.geometry)
        if fast is None:
            return None
        y, argmax = fast
        self.save_for_backward(argmax, memory_order(x))
        return (y, self._flat_indices(np, argmax)) if self.return_indices else y

    def forward(self, x):
        geometry = self.geometry
        xp = get_array_module(x)
        padded = pad2d(x, geometry.padding, -np.inf)
        taps = [padded[:, :, rows, columns] for _, (rows, columns) in geometry.taps()]
        y = taps[0].copy(order="K")
        if not (self.return_indices or (is_grad_enabled() and self.needs_input_grad[0])):
            for tap in taps[1:]:  # nothing will ask where the maxima are: values only
                xp.maximum(y, tap, out=y)
            return y
        index_dtype = np.min_scalar_type(len(taps) - 1)
        argmax = xp.zeros_like(y, dtype=index_dtype)  # in y's memory order
        staged = xp.empty_like(y)
        for offset, tap in enumerate(taps[1:], start=1):
            xp.copyto(staged, tap)  # one strided read; the three operations below run on contiguous memory
            better = staged > y
            xp.maximum(y, staged, out=y)
            # argmax = offset where better: unsigned arithmetic, many times faster than where() or masks
            argmax -= better * (argmax - index_dtype.type(offset))
        if padded is not x:
            argmax = self._first_real_tap_where_all_minus_inf(xp, y, argmax, index_dtype)
        if xp.isnan(y).any():
            for offset, tap in enumerate(taps):  # PyTorch keeps the last NaN of a window
                argmax = xp.where(xp.isnan(tap), index_dtype.type(offset), argmax)
        self.save_for_backward(argmax, memory_order(x))
        if self.return_indices:
            return y, self._flat_indices(xp, argmax)
        return y

    def _first_real_tap_where_all_minus_inf(self, xp, y, argmax, index_dtype):
        """A window whose inputs are all -inf ties with its padding; point it at its first real input."""
        all_minus_inf = y == -np.inf
        if not all_minus_inf.any():
            return argmax
        geometry = self.geometry
        (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
        (top, _), (left, _) = geometry.padding
        out_h, out_w = geometry.output_size
        first_row = np.maximum(0, -((np.arange(out_h) * sh - top) // dh))  # ceil((top - start) / dilation)
        first_column = np.maximum(0, -((np.arange(out_w) * sw - left) // dw))
        first = (first_row[:, None] * geometry.kernel_size[1] + first_column[None, :]).astype(index_dtype)
        return xp.where(all_minus_inf, xp.asarray(first), argmax)

    def _flat_indices(self, xp, argmax):
        """Flat ``h * W + w`` positions in the unpadded input of each window's maximum (int64)."""
        geometry = self.geometry
        (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
        (top, _), (left, _) = geometry.padding
        out_h, out_w = geometry.output_size
        width = geometry.input_size[1]
        tap_row, tap_column = xp.divmod(argmax.astype(np.int64), geometry.kernel_size[1])
        rows = xp.arange(out_h, dtype=np.int64)[:, None] * sh - top + tap_row * dh
        columns = xp.arange(out_w, dtype=np.int64) * sw - left + tap_column * dw
        return rows * width + columns

    def backward(self, grad, grad_indices=None):
        argmax, input_order = self.saved_arrays
        return MaxPool2dScatter(self.geometry, argmax, input_order)(grad)


class MaxPool2dScatter(Primitive):
    """Max pooling's backward: each window's gradient goes to the input position of its maximum; the result
    lies in memory ``order``."""

    def __init__(self, geometry: PoolGeometry, argmax, order: tuple):
        self.geometry, self.argmax, self.order = geometry, argmax, order

    fast_forward = ("forward_compiled",)

    def forward_compiled(self, grad):
        return _compiled_max_pool_scatter(grad, self.argmax, self.geometry, self.order)

    def forward(self, grad):
        return _scatter_windows(self.geometry, grad, self.order, lambda offset: self.argmax == offset)

    def backward(self, grad_grad_input):
        return MaxPool2dGather(self.geometry, self.argmax)(grad_grad_input)


class MaxPool2dGather(Primitive):
    """Read each window's maximum position from an input-shaped array (the adjoint of the scatter)."""

    def __init__(self, geometry: PoolGeometry, argmax):
        self.geometry, self.argmax = geometry, argmax

    def forward(self, values):
        padded = pad2d(values, self.geometry.padding, 0)
        out = None
        for offset, (rows, columns) in self.geometry.taps():
            picked = padded[:, :, rows, columns] * (self.argmax == offset)
            out = picked if out is None else out + picked
        return out

    def backward(self, grad):
        return MaxPool2dScatter(self.geometry, self.argmax, memory_order(grad.array))(grad)


# ------------------------------------------------------------------------------------------ avg pool
class AvgPool2d(Primitive):
    """Sum over each window (zero padding) divided by ``divisor``: a number or an (Ho, Wo) array."""

    def __init__(self, geometry: PoolGeometry, divisor):
        self.geometry, self.divisor = geometry, divisor

    def forward(self, x):
        self.save_for_backward(memory_order(x))
        padded = pad2d(x, self.geometry.padding, 0)
        y = None
        for _, (rows, columns) in self.geometry.taps():
            tap = padded[:, :, rows, columns]
            if y is None:
                y = tap.copy(order="K")
            else:
                y += tap
        y /= self.divisor
        return y

    def backward(self, grad):
        (input_order,) = self.saved_arrays
        return AvgPool2dScatter(self.geometry, self.divisor, input_order)(grad)


class AvgPool2dScatter(Primitive):
    """Average pooling's backward: each window's gradient, divided by its divisor, spread over the window;
    the result lies in memory ``order``."""

    def __init__(self, geometry: PoolGeometry, divisor, order: tuple):
        self.geometry, self.divisor, self.order = geometry, divisor, order

    def forward(self, grad):
        return _scatter_windows(self.geometry, grad / self.divisor, self.order)

    def backward(self, grad_grad_input):
        return AvgPool2d(self.geometry, self.divisor)(grad_grad_input)


# ------------------------------------------------------------------------------------- adaptive pool
class SeparableMap(Primitive):
    """``y[n, c] = rows @ x[n, c] @ columns.T``: a linear map applied along H and along W.

    rows: (Ho, H), columns: (Wo, W). Its adjoint is the same map with both matrices transposed.
    """

    def __init__(self, rows, columns):
        self.rows, self.columns = rows, columns

    def forward(self, x):
        xp = get_array_module(x)
        swapped = channels_major(x)
        lead = x.transpose(1, 0, 2, 3) if swapped else x  # so that (a, b, H) merge without a copy
        a, b, height, width = lead.shape
        out_h, out_w = self.rows.shape[0], self.columns.shape[0]
        along_w = xp.matmul(lead.reshape(a * b * height, width), self.columns.T)
        along_w = along_w.reshape(a * b, height, out_w).transpose(0, 2, 1).reshape(a * b * out_w, height)
        y = xp.matmul(along_w, self.rows.T).reshape(a, b, out_w, out_h).transpose(0, 1, 3, 2)
        y = xp.ascontiguousarray(y)
        return y.transpose(1, 0, 2, 3) if swapped else y

    def backward(self, grad):
        return SeparableMap(self.rows.T, self.columns.T)(grad)


def _adaptive_average_matrix(xp, input_size: int, output_size: int, dtype):
    """(output_size, input_size): row i averages inputs floor(i*in/out) .. ceil((i+1)*in/out) - 1."""
    index = np.arange(output_size)
    starts = (index * input_size) // output_size
    ends = -((-(index + 1) * input_size) // output_size)
    positions = np.arange(input_size)
    inside = (positions[None, :] >= starts[:, None]) & (positions[None, :] < ends[:, None])
    matrix = inside.astype(dtype) / (ends - starts).astype(dtype)[:, None]
    return xp.asarray(matrix)


# ------------------------------------------------------------------------------------------- wrappers
def _sizes(op: str, name: str, value, dims: int, minimum: int) -> tuple:
    """An int or a sequence of ``dims`` ints (a 1-sequence repeats), each at least ``minimum``, as a tuple."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) == 1:
        values = values * dims
    if len(values) != dims or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        expected = "an int or a 1-sequence of an int" if dims == 1 else "an int or a pair of ints"
        raise ValueError(f"{op}: {name} must be {expected}, received {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, received {value!r}")
    return tuple(int(v) for v in values)


_LAYOUTS = {1: ("(C, L)", "(N, C, L)"), 2: ("(C, H, W)", "(N, C, H, W)")}


def _check_input(op: str, input, dims: int = 2) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, received {type(input).__name__}")
    if input.ndim not in (dims + 1, dims + 2):
        unbatched, batched = _LAYOUTS[dims]
        raise ValueError(
            f"{op}: expected a {dims + 1}-d {unbatched} or {dims + 2}-d {batched} input, received shape {input.shape}"
        )
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, received dtype {input.dtype}")
    if 0 in input.shape[-dims - 1:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, received shape {input.shape}")
    return input


def _pool_geometry(op: str, input: Tensor, kernel_size, stride, padding, dilation,  # noqa: A002
                   ceil_mode: bool, dims: int = 2) -> PoolGeometry:
    """Validate pooling hyper-parameters and size the windows with PyTorch's formula.

    A 1-d pool (``dims=1``) is sized on its last axis and returned as the 2-d geometry of an (N, C, 1, L)
    view: a height-1 kernel with stride 1 and no padding, whose windows are exactly the 1-d ones.
    """
    kernel = _sizes(op, "kernel_size", kernel_size, dims, 1)
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):  # PyTorch: None or [] -> kernel
        stride = kernel
    else:
        stride = _sizes(op, "stride", stride, dims, 1)
    pads = _sizes(op, "padding", padding, dims, 0)
    dilation = _sizes(op, "dilation", dilation, dims, 1)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding should be at most half of kernel size, received padding {padding!r} "
                         f"with kernel_size {kernel}")
    spatial = input.shape[-dims:]
    outputs = []
    padding_pairs = []
    for size, k, s, p, d in zip(spatial, kernel, stride, pads, dilation):
        if ceil_mode:
            count = -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1
            if (count - 1) * s >= size + p:  # the last window must start inside the input or left padding
                count -= 1
        else:
            count = output_size(size, k, s, 2 * p, d)
        if count < 1:
            raise ValueError(
                f"{op}: input of shape {input.shape} is too small for kernel_size {kernel}, stride {stride}, "
                f"padding {pads}, dilation {dilation}: output size would be {count}"
            )
        reach = (count - 1) * s + d * (k - 1) + 1  # padded extent the windows touch
        padding_pairs.append((p, p + max(0, reach - size - 2 * p)))
        outputs.append(count)
    if dims == 1:
        return PoolGeometry((1,) + kernel, (1,) + stride, ((0, 0),) + tuple(padding_pairs), (1,) + dilation,
                            (1,) + tuple(spatial), (1,) + tuple(outputs))
    return PoolGeometry(kernel, stride, tuple(padding_pairs), dilation, tuple(spatial), tuple(outputs))


def _batched(input: Tensor):  # noqa: A002
    return (input, True) if input.ndim == 4 else (input.unsqueeze(0), False)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False):
    """Max over kernel_size windows of an (N, C, H, W) or (C, H, W) input; padding counts as -inf.

    Args:
        kernel_size: int or (kH, kW). stride: int or pair, default ``kernel_size``.
        padding: int or pair, at most half the kernel; default 0. dilation: default 1.
        ceil_mode: round the output size up (a last, partial window), default False.
        return_indices: also return the int64 flat index (h * W + w) of each maximum in its input plane.

    Returns (N, C, H_out, W_out), ``H_out = (H + 2*pH - dH*(kH-1) - 1) // sH + 1`` (rounded up with
    ``ceil_mode``); with ``return_indices``, the tuple (output, indices).
    """
    _check_input("max_pool2d", input)
    geometry = _pool_geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    x, batched = _batched(input)
    result = MaxPool2d(geometry, bool(return_indices))(x)
    if batched:
        return result
    if return_indices:
        return result[0].squeeze(0), result[1].squeeze(0)
    return result.squeeze(0)


def _average_divisor(geometry: PoolGeometry, count_include_pad: bool, divisor_override, dtype):
    """PyTorch's divisor per output position: a number when it is the same everywhere, else an (Ho, Wo) array.

    With ``count_include_pad`` windows count padding but not the part of a ceil_mode window past it.
    """
    if divisor_override is not None:
        return divisor_override
    factors = []
    for size, k, s, (pad, _), count in zip(geometry.input_size, geometry.kernel_size, geometry.stride,
                                           geometry.padding, geometry.output_size):
        starts = np.arange(count) * s - pad
        ends = np.minimum(starts + k, size + pad)
        if not count_include_pad:
            starts, ends = np.maximum(starts, 0), np.minimum(ends, size)
        factors.append(ends - starts)
    divisor = factors[0][:, None] * factors[1][None, :]
    if (divisor == divisor.flat[0]).all():
        return int(divisor.flat[0])
    return divisor.astype(dtype)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel_size windows of an (N, C, H, W) or (C, H, W) input; padding counts as 0.

    Args:
        kernel_size: int or (kH, kW). stride: int or pair, default ``kernel_size``.
        padding: int or pair, at most half the kernel; default 0.
        ceil_mode: round the output size up (a last, partial window), default False.
        count_include_pad: divide by the window size including padding (default True), else by the number
            of input elements in the window.
        divisor_override: divide every window sum by this number instead.

    Returns (N, C, H_out, W_out), ``H_out = (H + 2*pH - kH) // sH + 1`` (rounded up with ``ceil_mode``).
    """
    _check_input("avg_pool2d", input)
    if divisor_override is not None and (
        not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool)
        or divisor_override == 0
    ):
        raise ValueError(f"avg_pool2d: divisor_override must be a non-zero int, received {divisor_override!r}")
    geometry = _pool_geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    divisor = _average_divisor(geometry, count_include_pad, divisor_override, input.dtype)
    if isinstance(divisor, np.ndarray):
        divisor = get_array_module(input.array).asarray(divisor)
    x, batched = _batched(input)
    y = AvgPool2d(geometry, divisor)(x)
    return y if batched else y.squeeze(0)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling to a fixed (H_out, W_out), with PyTorch's bins: output i averages inputs
    ``floor(i*H/H_out)`` to ``ceil((i+1)*H/H_out) - 1`` (bins may overlap when H is not a multiple).

    ``output_size``: int or pair; a None entry keeps that input size. Input (N, C, H, W) or (C, H, W).
    """
    _check_input("adaptive_avg_pool2d", input)
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, received {output_size!r}")
    spatial = input.shape[-2:]
    sizes = tuple(size if wanted is None else wanted for wanted, size in zip(sizes, spatial))
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(
            f"adaptive_avg_pool2d: output_size must hold positive ints or None, received {output_size!r}"
        )
    xp = get_array_module(input.array)
    rows = _adaptive_average_matrix(xp, spatial[0], int(sizes[0]), input.dtype)
    columns = _adaptive_average_matrix(xp, spatial[1], int(sizes[1]), input.dtype)
    x, batched = _batched(input)
    y = SeparableMap(rows, columns)(x)
    return y if batched else y.squeeze(0)


# ------------------------------------------------------------------------------ 1-d pools, as 2-d ones
def _lift_1d(input: Tensor):  # noqa: A002
    """(N, C, L) or (C, L) as an (N, C, 1, L) view, and whether the input had a batch axis."""
    batched = input.ndim == 3
    return (input if batched else input.unsqueeze(0)).unsqueeze(2), batched


def _lower_1d(output: Tensor, batched: bool) -> Tensor:
    output = output.squeeze(2)
    return output if batched else output.squeeze(0)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,  # noqa: A002
               return_indices: bool = False):
    """Max over kernel_size windows of an (N, C, L) or (C, L) input; padding counts as -inf.

    Arguments as ``max_pool2d`` with one spatial axis (each an int); ``return_indices`` gives the int64
    position of each maximum along L. Runs as ``max_pool2d`` over an (N, C, 1, L) view, whose windows are
    exactly these. Returns (N, C, L_out), ``L_out = (L + 2*p - d*(k-1) - 1) // s + 1`` (rounded up with
    ``ceil_mode``); with ``return_indices``, the tuple (output, indices).
    """
    _check_input("max_pool1d", input, dims=1)
    geometry = _pool_geometry("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, dims=1)
    x, batched = _lift_1d(input)
    result = MaxPool2d(geometry, bool(return_indices))(x)
    if return_indices:
        return _lower_1d(result[0], batched), _lower_1d(result[1], batched)
    return _lower_1d(result, batched)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,  # noqa: A002
               count_include_pad: bool = True) -> Tensor:
    """Mean over kernel_size windows of an (N, C, L) or (C, L) input; padding counts as 0.

    Arguments as ``avg_pool2d`` with one spatial axis (each an int); runs as ``avg_pool2d`` over an
    (N, C, 1, L) view. Returns (N, C, L_out), ``L_out = (L + 2*p - k) // s + 1`` (rounded up with
    ``ceil_mode``).
    """
    _check_input("avg_pool1d", input, dims=1)
    geometry = _pool_geometry("avg_pool1d", input, kernel_size, stride, padding, 1, ceil_mode, dims=1)
    divisor = _average_divisor(geometry, count_include_pad, None, input.dtype)
    if isinstance(divisor, np.ndarray):
        divisor = get_array_module(input.array).asarray(divisor)
    x, batched = _lift_1d(input)
    return _lower_1d(AvgPool2d(geometry, divisor)(x), batched)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:  # noqa: A002
    """Average pooling of an (N, C, L) or (C, L) input to a fixed L_out (an int or a 1-sequence), with
    PyTorch's bins: output i averages inputs ``floor(i*L/L_out)`` to ``ceil((i+1)*L/L_out) - 1``."""
    _check_input("adaptive_avg_pool1d", input, dims=1)
    (size,) = _sizes("adaptive_avg_pool1d", "output_size", output_size, 1, 1)
    xp = get_array_module(input.array)
    rows = xp.ones((1, 1), dtype=input.dtype)  # the height-1 axis of the lifted view stays as it is
    columns = _adaptive_average_matrix(xp, input.shape[-1], size, input.dtype)
    x, batched = _lift_1d(input)
    return _lower_1d(SeparableMap(rows, columns)(x), batched)


__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d"]
