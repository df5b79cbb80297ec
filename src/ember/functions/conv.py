"""Convolutions: conv2d (and conv1d through it), NCHW by shape, as im2col + GEMM (batched over groups).

Three primitives close under differentiation, so gradients of any order work:

* ``Conv2d(x, w)``: the convolution;
* ``Conv2dGradInput(g, w)``: the transposed convolution, d(conv2d)/dx applied to ``g`` (GEMM + col2im);
* ``Conv2dGradWeight(x, g)``: d(conv2d)/dw applied to ``g`` (im2col + GEMM).

Each is bilinear in its two inputs, and the backward of each is written with the other two and itself.

On the CPU with the compiled kernels, each primitive first tries the direct convolutions of
``backend/direct_conv.py`` (no im2col matrix, split between the cores); what they do not take (grouped
convolutions, CuPy arrays, no C compiler, ...) goes the im2col way below.

Work goes in bands of output rows: each band's im2col matrix (at most ``conv_band_bytes``, one buffer reused
from band to band) is built, multiplied and dropped while it is still in cache, so no call allocates a
matrix kh*kw times the size of its input. The forward keeps its matrix for the weight gradient only when it
fits in one band; otherwise the weight gradient rebuilds it band by band. Results come back as
(N, C, H, W) views of (C, H, W, N) memory, the order the GEMMs (and the direct kernels) produce (see
``backend/im2col.py``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import config
from ..autograd.function import Primitive
from ..autograd.tensor import Tensor
from ..backend import compiled, direct_conv, threads
from ..backend.device import get_array_module
from ..backend.im2col import add_columns, column_source, column_target, columns, output_size
from .shape import pad


class ConvGeometry(NamedTuple):
    """Hyper-parameters of a 2-d convolution; ``padding`` is ((top, bottom), (left, right))."""

    kernel_size: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int

    def output_shape(self, height: int, width: int) -> tuple:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        (top, bottom), (left, right) = self.padding
        return output_size(height, kh, sh, top + bottom, dh), output_size(width, kw, sw, left + right, dw)

    def bands(self, xp, out_h: int, depth: int, row_width: int, dtype, first: int = 0) -> list:
        """``(rows, buffer)`` per band of output rows first..out_h-1: ``rows`` = (start, stop), ``buffer`` a
        flat view of one array shared by all bands, room for the band's (depth, (stop - start) * row_width)
        im2col matrix. A band holds at most the ``conv_band_bytes`` setting (one output row at least)."""
        per_row = depth * row_width
        count = max(1, min(out_h - first, config.get("conv_band_bytes") // max(per_row * np.dtype(dtype).itemsize, 1)))
        storage = xp.empty(per_row * count, dtype=dtype)
        bands = [(start, min(out_h, start + count)) for start in range(first, out_h, count)]
        return [(rows, storage[:per_row * (rows[1] - rows[0])]) for rows in bands]

    def source(self, x):
        """``x`` as the bands' im2col reads it (``backend.im2col.column_source``)."""
        return column_source(x, self.padding)

    def columns(self, source, rows, out_w: int, buffer):
        """im2col of output rows ``rows`` of ``source`` into ``buffer``: a (C*kh*kw, rows*out_w*N) matrix."""
        image, offset = source
        return columns(image, offset, self.kernel_size, self.stride, self.dilation, rows, out_w, out=buffer)


def _output_rows(output, groups: int):
    """(N, C_out, Ho, Wo) -> (groups, C_out/groups, Ho, Wo*N); free when it lies in (C, H, W, N) memory."""
    batch, out_channels, out_h, out_w = output.shape
    return output.transpose(1, 2, 3, 0).reshape(groups, out_channels // groups, out_h, out_w * batch)


def _row_band(rows_matrix, rows):
    """Output rows ``rows`` = (start, stop) of a (groups, C/groups, Ho, Wo*N) array, as a
    (groups, C/groups, (stop - start)*Wo*N) view."""
    return rows_matrix[:, :, rows[0]:rows[1]].reshape(rows_matrix.shape[0], rows_matrix.shape[1], -1)


def _weight_matrix(weight, groups: int):
    """(C_out, C_in/groups, kh, kw) -> (groups, C_out/groups, C_in/groups*kh*kw)."""
    out_channels, channels_per_group, kh, kw = weight.shape
    return weight.reshape(groups, out_channels // groups, channels_per_group * kh * kw)


class Conv2d(Primitive):
    """``y = conv2d(x, w) + b`` on (N, C, H, W) inputs; ``b`` is optional.

    Reference path: im2col + GEMM in bands. Fast paths: ``forward_direct`` (the compiled direct kernels) and
    ``backward_arrays`` (one layout copy of the output gradient for both gradients, the bias gradient as one
    GEMV, the weight's and bias's gradients of a layer's own parameters on a helper thread beside the pass)."""

    fast_forward = ("forward_direct",)

    def __init__(self, geometry: ConvGeometry):
        self.geometry = geometry

    def forward_direct(self, x, weight, bias=None):
        direct = direct_conv.forward(x, weight, self.geometry, bias)
        if direct is None:
            return None
        y, x_stored = direct
        # x itself (so that second derivatives reach it) and x in the memory order the weight gradient reads
        self.save_for_backward(x, weight, None, x_stored)
        return y.transpose(3, 0, 1, 2)

    def forward(self, x, weight, bias=None):
        geometry = self.geometry
        xp = get_array_module(x)
        groups = geometry.groups
        batch, out_channels = x.shape[0], weight.shape[0]
        out_h, out_w = geometry.output_shape(*x.shape[2:])
        source = geometry.source(x)
        weight_matrix = _weight_matrix(weight, groups)
        depth = weight_matrix.shape[2] * groups  # C*kh*kw
        y = xp.empty((out_channels, out_h, out_w, batch), dtype=x.dtype)
        y_rows = y.reshape(groups, out_channels // groups, out_h, out_w * batch)
        bands = geometry.bands(xp, out_h, depth, out_w * batch, x.dtype)
        for rows, buffer in bands:
            cols = geometry.columns(source, rows, out_w, buffer)
            xp.matmul(weight_matrix, cols.reshape(groups, depth // groups, -1), out=_row_band(y_rows, rows))
        if bias is not None:
            y += bias[:, None, None, None]
        keep_cols = self.needs_input_grad[1] and len(bands) == 1
        self.save_for_backward(x, weight, cols if keep_cols else None, None)
        return y.transpose(3, 0, 1, 2)

    def backward(self, grad):
        x, weight, cols, _ = self.saved_tensors
        needs = self.needs_input_grad
        grad_x = Conv2dGradInput(self.geometry, x.shape)(grad, weight) if needs[0] else None
        grad_weight = None
        if needs[1]:
            cols = None if cols is None else cols.array
            grad_weight = Conv2dGradWeight(self.geometry, weight.shape, cols)(x, grad)
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, (grad.sum(dim=(0, 2, 3)) if needs[2] else None)

    def backward_arrays(self, grad):
        """The same primitives on arrays: the gradient copied into (C, H, W, N) memory once for both
        gradients (NumPy), and the bias gradient as a GEMV over that memory (about four times NumPy's sum).
        The weight's and the bias's gradients, when the layer's parameters are leaves with no hooks, are
        computed on a helper thread beside the rest of the backward pass (``_defer_parameter_grads``)."""
        x, weight, cols, x_stored = self.saved_arrays
        x = x if x_stored is None else x_stored
        needs = self.needs_input_grad
        if type(grad) is not np.ndarray:
            return None
        if all(needs[:2]) and compiled.for_arrays(grad) is not None:
            grad = direct_conv.chwn(grad).transpose(3, 0, 1, 2)
        with_bias = len(needs) == 3 and needs[2]
        deferred = self._defer_parameter_grads(x, grad, weight, with_bias) if needs[1] and cols is None else None
        grad_x = Conv2dGradInput(self.geometry, x.shape)(Tensor(grad), Tensor(weight)).array if needs[0] else None
        if deferred is not None:
            grad_weight, grad_bias = deferred
        else:
            grad_weight = None
            if needs[1]:
                grad_weight = Conv2dGradWeight(self.geometry, weight.shape, cols)(Tensor(x), Tensor(grad)).array
            grad_bias = _channel_sums(grad) if with_bias else None
        if len(needs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, grad_bias

    def _defer_parameter_grads(self, x, grad, weight, with_bias: bool):
        """``(grad_weight, grad_bias or None)``: arrays that the direct weight-gradient kernel and the bias's
        channel sums fill on a helper thread (``threads.defer``) while the calling thread goes on with the
        input gradient and the rest of the backward pass, which then has both cores' worth of work where it
        would leave one idle (the engine waits for them before it reads a leaf's gradient). Only for leaf
        parameters without hooks (nothing reads their gradients before the pass ends) on the direct kernels;
        None where it does not apply (the caller computes them now). The numbers are the same: neither the
        direct kernel's partial sums nor the im2col path's ranges depend on how many threads run them."""
        parameters = self.inputs[1:3] if with_bias else self.inputs[1:2]
        if (len(self.inputs) < 2 or config.get("conv") != "direct" or self.geometry.groups != 1 or not x.shape[0]
                or compiled.for_arrays(x, grad) is None
                or any(p.creator is not None or p._post_accumulate_grad_hooks is not None for p in parameters)):
            return None
        grad_weight = np.empty(weight.shape, dtype=weight.dtype)
        grad_bias = np.empty(grad.shape[1], dtype=grad.dtype) if with_bias else None
        geometry = self.geometry

        def compute() -> None:
            result = direct_conv.weight_grad(x, grad, geometry, weight.shape)
            if result is None:  # declined after all: the reference path, the op's own numbers
                result = Conv2dGradWeight(geometry, weight.shape).forward(x, grad)
            grad_weight[...] = result
            if grad_bias is not None:
                grad_bias[...] = _channel_sums(grad)

        return (grad_weight, grad_bias) if threads.defer(compute) else None


def _channel_sums(grad):
    """The bias gradient: (N, C, H, W) array ``grad`` summed over N, H and W; on (C, H, W, N) memory of a
    BLAS type one matrix-vector product with ones."""
    stored = grad.transpose(1, 2, 3, 0)
    if stored.flags.c_contiguous and grad.dtype in (np.float32, np.float64):
        rows = stored.reshape(stored.shape[0], -1)
        return rows @ np.ones(rows.shape[1], dtype=rows.dtype)
    return grad.sum(axis=(0, 2, 3))


class Conv2dGradInput(Primitive):
    """The transposed convolution: the gradient of ``conv2d(x, w)`` wrt ``x`` (shape ``input_shape``) given
    the output gradient ``g``: per band, one GEMM and its col2im additions (fast path: ``forward_direct``)."""

    fast_forward = ("forward_direct",)

    def __init__(self, geometry: ConvGeometry, input_shape):
        self.geometry, self.input_shape = geometry, tuple(input_shape)

    def forward_direct(self, grad, weight):
        grad_input = direct_conv.input_grad(grad, weight, self.geometry, self.input_shape)
        if grad_input is None:
            return None
        self.save_for_backward(grad, weight)
        return grad_input.transpose(3, 0, 1, 2)

    def forward(self, grad, weight):
        geometry = self.geometry
        self.save_for_backward(grad, weight)
        xp = get_array_module(grad)
        groups = geometry.groups
        batch, channels, height, width = self.input_shape
        out_h, out_w = grad.shape[2:]
        grad_rows = _output_rows(grad, groups)
        weight_matrix = _weight_matrix(weight, groups).transpose(0, 2, 1)  # (groups, C/groups*kh*kw, C_out/groups)
        depth = weight_matrix.shape[1] * groups
        image, offset, interior = column_target(grad, (channels, height, width, batch), geometry.padding)
        for rows, buffer in geometry.bands(xp, out_h, depth, out_w * batch, grad.dtype):
            xp.matmul(weight_matrix, _row_band(grad_rows, rows), out=buffer.reshape(groups, depth // groups, -1))
            add_columns(image, offset, buffer.reshape(depth, -1), geometry.kernel_size, geometry.stride,
                        geometry.dilation, rows, out_w)
        return interior.transpose(3, 0, 1, 2)

    def backward(self, grad_grad_input):
        grad, weight = self.saved_tensors
        needs = self.needs_input_grad
        grad_grad = Conv2d(self.geometry)(grad_grad_input, weight) if needs[0] else None
        grad_weight = None
        if needs[1]:
            grad_weight = Conv2dGradWeight(self.geometry, weight.shape)(grad_grad_input, grad)
        return grad_grad, grad_weight


class Conv2dGradWeight(Primitive):
    """The gradient of ``conv2d(x, w)`` wrt ``w`` (shape ``weight_shape``) given the output gradient ``g``.

    ``cols``, when given, is ``im2col(x)`` kept from the forward pass; it is used once and not retained.
    Otherwise the matrix is rebuilt band by band. Fast path: ``forward_direct`` (when no matrix was kept).
    """

    fast_forward = ("forward_direct",)

    def __init__(self, geometry: ConvGeometry, weight_shape, cols=None):
        self.geometry, self.weight_shape, self.cols = geometry, tuple(weight_shape), cols

    def forward_direct(self, x, grad):
        if self.cols is not None:  # the forward's im2col matrix makes this one GEMM: cheaper than any kernel
            return None
        grad_weight = direct_conv.weight_grad(x, grad, self.geometry, self.weight_shape)
        if grad_weight is not None:
            self.save_for_backward(x, grad)
        return grad_weight

    def forward(self, x, grad):
        geometry = self.geometry
        xp = get_array_module(grad)
        self.save_for_backward(x, grad)
        groups = geometry.groups
        batch, _, out_h, out_w = grad.shape
        depth = x.shape[1] * geometry.kernel_size[0] * geometry.kernel_size[1]
        grad_rows = _output_rows(grad, groups)
        if self.cols is not None:
            cols, self.cols = self.cols, None  # a node recorded for double backward must not keep the matrix
            cols = cols.reshape(groups, depth // groups, -1)
            return xp.matmul(_row_band(grad_rows, (0, out_h)), cols.transpose(0, 2, 1)).reshape(self.weight_shape)
        source = geometry.source(x)
        sums = {}

        def accumulate(start, stop):  # the weight gradient's share of output rows start..stop-1
            grad_weight = partial = None
            for rows, buffer in geometry.bands(xp, stop, depth, out_w * batch, x.dtype, first=start):
                cols = geometry.columns(source, rows, out_w, buffer).reshape(groups, depth // groups, -1)
                grad_band = _row_band(grad_rows, rows)
                if grad_weight is None:
                    grad_weight = xp.matmul(grad_band, cols.transpose(0, 2, 1))
                    partial = xp.empty_like(grad_weight)
                else:
                    grad_weight += xp.matmul(grad_band, cols.transpose(0, 2, 1), out=partial)
            sums[start] = grad_weight

        direct_conv.split_weight_grad(accumulate, out_h, x, grad)
        return direct_conv.add_in_row_order(sums).reshape(self.weight_shape)

    def backward(self, grad_weight):
        x, grad = self.saved_tensors
        needs = self.needs_input_grad
        grad_x = Conv2dGradInput(self.geometry, x.shape)(grad, grad_weight) if needs[0] else None
        grad_grad = Conv2d(self.geometry)(x, grad_weight) if needs[1] else None
        return grad_x, grad_grad


# ------------------------------------------------------------------------------------------- wrappers
def _tuple(op: str, name: str, value, dims: int, minimum: int) -> tuple:
    """An int or a sequence of ``dims`` ints, each at least ``minimum``, as a tuple."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a sequence of {dims} ints, received {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, received {value!r}")
    return tuple(int(v) for v in values)


def _padding(op: str, padding, kernel_size: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Numeric or ``"valid"``/``"same"`` padding as ((before, after), ...) per spatial axis.

    ``"same"`` pads ``dilation*(kernel-1)`` in total, the extra element (when odd) after, as PyTorch does.
    """
    dims = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * dims
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions (stride={stride}); "
                    "pad explicitly instead"
                )
            totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
            return tuple((total // 2, total - total // 2) for total in totals)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', received {padding!r}")
    if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != dims:
            raise ValueError(f"{op}: expected {dims} (before, after) padding pairs, received {padding!r}")
        return tuple(_tuple(op, "padding", pair, 2, 0) for pair in padding)
    return tuple((p, p) for p in _tuple(op, "padding", padding, dims, 0))


def _check_tensor(op: str, name: str, value) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, received {type(value).__name__}")
    return value


def _check_arguments(op: str, dims: int, input: Tensor, weight: Tensor, bias, groups,  # noqa: A002
                     weight_channels: str) -> None:
    """The checks a ``dims``-d convolution and a transposed one share: Tensors, ranks (batched or not), one
    floating dtype, a positive int ``groups``; ``weight_channels`` names the weight's first two dims."""
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    if bias is not None:
        _check_tensor(op, "bias", bias)
    layout = "(N, C, L)" if dims == 1 else "(N, C, H, W)"
    unbatched_layout = "(C, L)" if dims == 1 else "(C, H, W)"
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: expected a {dims + 1}-d {unbatched_layout} or {dims + 2}-d {layout} input, "
            f"received shape {input.shape}"
        )
    if weight.ndim != dims + 2:
        raise ValueError(
            f"{op}: expected a {dims + 2}-d weight ({weight_channels}, {'k' if dims == 1 else 'kH, kW'}), "
            f"received shape {weight.shape}"
        )
    if input.dtype.kind != "f" or weight.dtype != input.dtype or (bias is not None and bias.dtype != input.dtype):
        received = f"input {input.dtype}, weight {weight.dtype}" + ("" if bias is None else f", bias {bias.dtype}")
        raise TypeError(f"{op}: expected floating input, weight and bias of one dtype, received {received}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, received {groups!r}")


def _convolution(op: str, dims: int, input: Tensor, weight: Tensor, bias, stride, padding,  # noqa: A002
                 dilation, groups) -> Tensor:
    """Validate a ``dims``-d convolution (1 or 2), lift it to a batched 2-d one, run it, and undo the lift."""
    _check_arguments(op, dims, input, weight, bias, groups, "C_out, C_in/groups")
    out_channels, channels_per_group = weight.shape[:2]
    if 0 in weight.shape[1:]:
        raise ValueError(f"{op}: expected a weight with non-empty input-channel and kernel dims, received "
                         f"shape {weight.shape}")
    if out_channels % groups:
        raise ValueError(
            f"{op}: out_channels {out_channels} (weight {weight.shape}) must be divisible by groups={groups}"
        )
    channel_axis = input.ndim - dims - 1
    if input.shape[channel_axis] != channels_per_group * groups:
        raise ValueError(
            f"{op}: expected input with {channels_per_group * groups} channels (weight {weight.shape}, "
            f"groups={groups}), received shape {input.shape}"
        )
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape ({out_channels},), received shape {bias.shape}")

    kernel_size = tuple(weight.shape[2:])
    stride = _tuple(op, "stride", stride, dims, 1)
    dilation = _tuple(op, "dilation", dilation, dims, 1)
    pads = _padding(op, padding, kernel_size, stride, dilation)
    spatial = input.shape[channel_axis + 1:]
    for size, kernel, step, (before, after) in zip(spatial, kernel_size, dilation, pads):
        if before + size + after < step * (kernel - 1) + 1:
            raise ValueError(
                f"{op}: kernel {kernel_size} with dilation {dilation} does not fit in the padded input: "
                f"input shape {input.shape}, padding {padding!r}"
            )

    batched = input.ndim == dims + 2
    x = input if batched else input.unsqueeze(0)
    if dims == 1:
        x = x.unsqueeze(2)
        weight = weight.unsqueeze(2)
        kernel_size, stride, dilation, pads = (1,) + kernel_size, (1,) + stride, (1,) + dilation, ((0, 0),) + pads
    geometry = ConvGeometry(kernel_size, stride, pads, dilation, int(groups))
    y = Conv2d(geometry)(x, weight) if bias is None else Conv2d(geometry)(x, weight, bias)
    if dims == 1:
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation) over an (N, C_in, H, W) or unbatched (C_in, H, W) input.

    Args:
        weight: (C_out, C_in/groups, kH, kW). bias: (C_out,) or None.
        stride, dilation: int or (sH, sW); default 1.
        padding: int, (pH, pW), ``"valid"`` (no padding) or ``"same"`` (output size = input size; stride 1
            only; an odd total puts the extra row/column at the bottom/right). Default 0. Ember also takes
            ((top, bottom), (left, right)), e.g. TensorFlow's "same" padding of a strided convolution.
        groups: split input and output channels into this many independent convolutions. Default 1.

    Returns (N, C_out, H_out, W_out) with ``H_out = (H + 2*pH - dH*(kH-1) - 1) // sH + 1`` (likewise W_out).
    """
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """1-d convolution over an (N, C_in, L) or unbatched (C_in, L) input; weight (C_out, C_in/groups, k).

    Arguments as ``conv2d`` with one spatial axis; returns (N, C_out, L_out).
    """
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


# ------------------------------------------------------------------------------------ transposed convolution
def _transposed_convolution(op: str, dims: int, input: Tensor, weight: Tensor, bias, stride, padding,  # noqa: A002
                            output_padding, groups, dilation, output_size=None) -> Tensor:
    """Validate a ``dims``-d transposed convolution (1 or 2) and run it as ``Conv2dGradInput``: the gradient of
    the convolution with the same weight, whose input has the transposed convolution's output shape."""
    _check_arguments(op, dims, input, weight, bias, groups, "C_in, C_out/groups")
    in_channels, out_per_group = weight.shape[:2]
    if 0 in weight.shape[1:]:
        raise ValueError(f"{op}: expected a weight with non-empty output-channel and kernel dims, received "
                         f"shape {weight.shape}")
    if in_channels % groups:
        raise ValueError(f"{op}: in_channels {in_channels} (weight {weight.shape}) must be divisible by "
                         f"groups={groups}")
    channel_axis = input.ndim - dims - 1
    if input.shape[channel_axis] != in_channels:
        raise ValueError(f"{op}: expected input with {in_channels} channels (weight {weight.shape}), received "
                         f"shape {input.shape}")
    out_channels = out_per_group * groups
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape ({out_channels},), received shape {bias.shape}")
    kernel_size = tuple(weight.shape[2:])
    stride = _tuple(op, "stride", stride, dims, 1)
    dilation = _tuple(op, "dilation", dilation, dims, 1)
    pads = _tuple(op, "padding", padding, dims, 0)
    spatial = input.shape[channel_axis + 1:]
    # the smallest output each axis can have; output_padding adds up to stride-1 (or dilation-1) to it
    smallest = tuple((size - 1) * s - 2 * p + d * (k - 1) + 1
                     for size, s, p, d, k in zip(spatial, stride, pads, dilation, kernel_size))
    if output_size is not None:
        sizes = tuple(int(v) for v in output_size)[-dims:]
        if len(sizes) != dims:
            raise ValueError(f"{op}: output_size must give {dims} spatial sizes, received {output_size!r}")
        extra = tuple(want - low for want, low in zip(sizes, smallest))
        for want, low, s, d in zip(sizes, smallest, stride, dilation):
            if not low <= want < low + max(s, d):
                raise ValueError(
                    f"{op}: requested output_size {sizes} is not reachable from input shape {input.shape}: "
                    f"each size must lie in [{low}, {low + max(s, d) - 1}] for stride {stride}, padding {pads}, "
                    f"dilation {dilation}, kernel {kernel_size}"
                )
    else:
        extra = _tuple(op, "output_padding", output_padding, dims, 0)
        if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
            raise ValueError(f"{op}: output_padding {extra} must be smaller than stride {stride} or dilation "
                             f"{dilation}")
    out_spatial = tuple(low + e for low, e in zip(smallest, extra))
    if min(out_spatial) < 1:
        raise ValueError(f"{op}: input shape {input.shape} with kernel {kernel_size}, stride {stride}, padding "
                         f"{pads} gives an empty output {out_spatial}")

    # PyTorch's (padding, output_padding) as crops of the full output, (p, p - output_padding) per axis
    crops = tuple((p, p - e) for p, e in zip(pads, extra))
    return _cropped_transposed_convolution(input, weight, bias, stride, crops, dilation, int(groups), dims)


def _cropped_transposed_convolution(input: Tensor, weight: Tensor, bias, stride: tuple,  # noqa: A002
                                    crops: tuple, dilation: tuple, groups: int, dims: int) -> Tensor:
    """The transposed convolution's full output ((H-1)*s + d*(k-1) + 1 per axis) less ``crops`` ((before,
    after) per axis; a negative crop adds zeros there): ``Conv2dGradInput``, the gradient of the convolution
    that maps the cropped output back onto the input exactly. Arguments are checked by the caller."""
    batched = input.ndim == dims + 2
    x = input if batched else input.unsqueeze(0)
    kernel_size = tuple(weight.shape[2:])
    if dims == 1:
        x = x.unsqueeze(2)
        weight = weight.unsqueeze(2)
        kernel_size, stride, dilation, crops = (1,) + kernel_size, (1,) + stride, (1,) + dilation, ((0, 0),) + crops
    out_channels = weight.shape[1] * groups
    full = tuple((size - 1) * s + d * (k - 1) + 1 for size, s, d, k in zip(x.shape[2:], stride, dilation, kernel_size))
    computed = tuple(size - max(before, 0) - max(after, 0) for size, (before, after) in zip(full, crops))
    if min(computed) < 1:
        raise ValueError(f"conv_transpose: input shape {input.shape} with kernel {kernel_size}, stride {stride} "
                         f"and crops {crops} gives an empty output")
    geometry = ConvGeometry(kernel_size, stride, tuple((max(b, 0), max(a, 0)) for b, a in crops), dilation,
                            int(groups))
    y = Conv2dGradInput(geometry, (x.shape[0], out_channels) + computed)(x, weight)
    zeros = tuple((max(-b, 0), max(-a, 0)) for b, a in crops)
    if any(b or a for b, a in zeros):
        y = pad(y, (zeros[1][0], zeros[1][1], zeros[0][0], zeros[0][1]))
    if bias is not None:
        y = y + bias.reshape(out_channels, 1, 1)
    if dims == 1:
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def conv_transpose2d_cropped(input: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple,  # noqa: A002
                             crops: tuple, dilation: tuple = (1, 1)) -> Tensor:
    """Keras's transposed convolution on (N, C_in, H, W): the full output less ``crops`` ((top, bottom),
    (left, right)); a negative crop adds zero rows/columns. Weight (C_in, C_out, kH, kW)."""
    _check_tensor("conv_transpose2d", "input", input)
    if input.ndim != 4 or weight.ndim != 4 or input.shape[1] != weight.shape[0]:
        raise ValueError(f"conv_transpose2d: expected an (N, C_in, H, W) input and a (C_in, C_out, kH, kW) weight, "
                         f"received shapes {input.shape} and {weight.shape}")
    return _cropped_transposed_convolution(input, weight, bias, tuple(stride), tuple(crops), tuple(dilation), 1, 2)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
                     output_padding=0, groups: int = 1, dilation=1, output_size=None) -> Tensor:
    """2-d transposed convolution ("deconvolution") over an (N, C_in, H, W) or unbatched (C_in, H, W) input:
    the gradient of ``conv2d`` with respect to its input, run as one GEMM and col2im per band.

    Args:
        weight: (C_in, C_out/groups, kH, kW), PyTorch's layout. bias: (C_out,) or None.
        stride, padding, dilation: int or pair; default 1, 0, 1. ``padding`` crops ``p`` rows/columns from
            each side of the full output, as in PyTorch.
        output_padding: int or pair added to the bottom/right of the output (smaller than stride or
            dilation), default 0. groups: default 1.
        output_size: Ember extension as ``nn.ConvTranspose2d.forward(x, output_size)``: the (H_out, W_out)
            wanted, which fixes ``output_padding``.

    Returns (N, C_out, H_out, W_out), ``H_out = (H-1)*sH - 2*pH + dH*(kH-1) + output_padding + 1``.
    """
    return _transposed_convolution("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation, output_size)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
                     output_padding=0, groups: int = 1, dilation=1, output_size=None) -> Tensor:
    """1-d transposed convolution over (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, k).

    Arguments as ``conv_transpose2d`` with one spatial axis; ``L_out = (L-1)*s - 2*p + d*(k-1) +
    output_padding + 1``.
    """
    return _transposed_convolution("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                                   groups, dilation, output_size)


__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]
