"""Direct convolutions on the CPU with the compiled kernels: no im2col matrix, every core.

``kernels/direct_conv.c`` computes a convolution's output and its input gradient (the transposed convolution),
``kernels/weight_grad.c`` its weight gradient, straight from (C, H, W, N) memory, vectorized over the batch.
Forward and input gradient sum a block of channels by one to three vectors of batch entries in registers over
every tap and channel, then store it once; the weight gradient sums tiles of output by input channels over
every position. Against im2col + GEMM that skips writing and re-reading a matrix kh*kw times the size of the
input and OpenBLAS's packing of it, and keeps the vector units busy on the small channel counts (12-64) where
a GEMM's skinny shape leaves them idle. The cores share each call (``backend.threads``; the ``num_threads``
setting of ``ember.config`` at 1 keeps them on one): every thread enters the kernel once and takes small
pieces of the work from a shared counter until none is left, so a core the host slows down takes fewer, at no
Python cost per piece. Forward and input gradient write each number from one piece (the same numbers whoever
took which); the weight gradient sums each range of rows into a partial of its own, added in row order, with
ranges that do not depend on the thread count, so its numbers do not either.

The ``conv`` setting of ``ember.config`` at 'im2col' turns them off; grouped convolutions, kernels wider than
the compiled limit, channel counts that would leave more than a third of a register block empty (forward and
input gradient; fewer channels than the smallest block go one at a time instead), and arrays the kernels do
not take (CuPy, other dtypes) go the im2col way: the functions here return None for them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import config
from . import compiled
from .im2col import CHWN
from .layout import copy_in_order, empty_aligned
from .threads import claim_cores, matmul, share, split_rows, threads_for

PIECES_PER_THREAD = 64  # forward / input gradient: pieces of work a shared call is cut into, per thread
# The weight gradient: one register tile sums a group of output rows (its vector sums are added up once per
# group, not once per row): about WEIGHT_TILE_POSITIONS output positions, WEIGHT_GROUP to WEIGHT_GROUP_MAX
# rows (``weight_group``: 8 of 14 or 7 measured 5-15% faster than 4 everywhere; at 28 wide, with the tiles
# of channel pairs by 3 taps, 6 rows 1-8% faster than 4, batch 64, 1 or 2 threads, and 8 slower on 2: one
# range of rows leaves too few pieces to share evenly); the rows go in ranges of about 4 groups (each range
# summed into a partial of its own, at most PARTIALS_BYTES of them in all) and the output channels in parts
# of about a multiple of WEIGHT_PART, about 8 pieces per thread, as many as make the pieces a multiple of the
# threads (the kernel parts the channels' tiles evenly). Groups and ranges set the order of the sums, so
# they depend on the shape alone: the same numbers on any number of threads.
WEIGHT_GROUP = 4
WEIGHT_GROUP_MAX = 8
WEIGHT_TILE_POSITIONS = 168
WEIGHT_PART = 12  # a multiple of the tile's 3 or 4 output channels
PARTIALS_BYTES = 2 << 20
# The im2col weight gradient (grouped convolutions, and batches the direct kernels leave) sums this many
# ranges of output rows into partials of their own, added in row order, whatever the threads: a number set
# by the shape alone, so a call run whole on a helper thread (``threads.defer``) gives the numbers of one
# split between the threads. Four keep 2-4 threads busy at one Python call each per range.
IM2COL_WEIGHT_RANGES = 4
# Batch entries past the last full vector run one at a time in every kernel here, each about as slow as a
# whole vector. So a batch that is not a whole number of vectors runs padded with zero entries to one
# (``run_batch``) when at least MIN_VECTOR_SHARE of the padded work is real, else the im2col way. UNet step,
# 16 lanes, im2col / padded: batch 8 (half real) 75 / 81 ms, 12 89 / 72, 24 138 / 112, 40 214 / 151 (all
# entries one at a time at batch 8: 376 ms).
MIN_VECTOR_SHARE = 0.6
PAD_BATCHES = True  # off: batches that are not whole vectors run their last entries one at a time


def block_height(kernels, channels: int) -> int | None:
    """The register-block height for ``channels`` produced channels that pads the fewest (ties: the block two
    vectors wide, then three, then one); when that padding would be over a third of the work, 1 (one
    channel at a time, four vectors wide) for fewer channels than the smallest block's height, as an
    image's, else None. One row: a UNet's last 32 -> 1 convolution at 28x28, batch 64, 2 threads, 1.8 ms by
    im2col, the 32 -> 4 one 3.6 ms."""
    full, half, third = kernels.conv_block_heights()
    height = min((half, third, full), key=lambda h: -(-channels // h) * h - channels)
    padded = -(-channels // height) * height
    if 3 * (padded - channels) > padded:
        return 1 if channels < third else None
    return height


def pack(weight_rows, height: int):
    """(rows, kh, kw, inner) weights as the kernels read them: (ceil(rows/height), kh*kw*inner, height),
    rows past ``rows`` zero."""
    rows = weight_rows.shape[0]
    blocks = -(-rows // height)
    padded = np.zeros((blocks * height,) + weight_rows.shape[1:], dtype=weight_rows.dtype)
    padded[:rows] = weight_rows
    return np.ascontiguousarray(padded.reshape(blocks, height, -1).transpose(0, 2, 1))


def chwn(array):
    """(N, C, H, W) NumPy ``array`` as a C-contiguous (C, H, W, N) array: a view when it lies so, else a copy
    (from (N, C, H, W) memory by the compiled transpose, split between threads)."""
    stored = array.transpose(1, 2, 3, 0)
    if stored.flags.c_contiguous:
        return stored
    kernels = compiled.for_arrays(array)
    if kernels is None or not array.flags.c_contiguous:
        return copy_in_order(np, array, CHWN).transpose(1, 2, 3, 0)
    source = array.reshape(array.shape[0], -1)
    target = empty_aligned(source.shape[::-1], array.dtype)
    split_rows(lambda start, stop: kernels.transpose(source, target, start, stop), source.shape[1],
               threads_for(array.size))
    return target.reshape(stored.shape)


def _plan(array, weight, geometry, produced: int):
    """The kernels and block height for a direct convolution producing ``produced`` channels, or None."""
    if config.get("conv") != "direct" or geometry.groups != 1:
        return None
    kernels = compiled.for_arrays(array, weight)
    if kernels is None or max(geometry.kernel_size) > kernels.conv_max_taps:
        return None
    height = block_height(kernels, produced)
    return None if height is None else (kernels, height)


def vector_share(kernels, batch: int, dtype) -> float:
    """The share of a direct kernel's work on ``batch`` entries that runs in full vectors of
    ``vector_bytes / itemsize`` lanes, counting each entry past the last full vector as a vector's work
    (16 lanes: batch 64 1.0, 100 0.63, 72 0.38, 8 0.06)."""
    lanes = max(1, kernels.vector_bytes // np.dtype(dtype).itemsize)
    whole, rest = divmod(batch, lanes)
    return 1.0 if not batch else batch / (lanes * (whole + rest))


def run_batch(kernels, batch: int, dtype) -> int:
    """The batch the direct kernels run ``batch`` entries as: ``batch`` itself when it is a whole number of
    vectors (or ``PAD_BATCHES`` is off and ``vector_share`` reaches ``MIN_VECTOR_SHARE``), else the next whole
    number of vectors (zero entries past ``batch``) when ``batch`` fills at least ``MIN_VECTOR_SHARE`` of it;
    0 where neither holds (the im2col way)."""
    lanes = max(1, kernels.vector_bytes // np.dtype(dtype).itemsize)
    padded = -(-batch // lanes) * lanes
    if padded == batch:
        return batch
    if not PAD_BATCHES:
        return batch if vector_share(kernels, batch, dtype) >= MIN_VECTOR_SHARE else 0
    return padded if batch >= MIN_VECTOR_SHARE * padded else 0


def _padded(stored, batch: int):
    """C-contiguous (C, H, W, N) ``stored`` with zero entries appended to ``batch`` along N (itself when it
    has that many)."""
    if stored.shape[3] == batch:
        return stored
    padded = empty_aligned(stored.shape[:3] + (batch,), stored.dtype, zeros=True)
    padded[..., :stored.shape[3]] = stored
    return padded


def _unpadded(result, batch: int):
    """(C, H, W, N') ``result`` cut back to its first ``batch`` entries, C-contiguous."""
    return result if result.shape[3] == batch else np.ascontiguousarray(result[..., :batch])


def pointwise(geometry) -> bool:
    """Whether a convolution is one matrix product on (C, H*W*N) memory: a 1x1 kernel, stride 1, no padding,
    one group. Its forward then runs as a GEMM (``matmul``, split between threads), which beats the direct
    kernel there (with one tap, a register block reuses each loaded input vector for few products): 96->32
    channels at 28x28, batch 64, 2 threads, 1.40-1.46 vs 1.82-2.03 ms (14x14, 128->64: 0.58-0.63 vs
    0.53-0.56). Its input gradient stays with the direct kernel since the channel-order blocks: 1.30-1.57 vs
    1.74-1.81 ms as a GEMM (14x14: 0.54-0.60 vs 0.59-0.63). Its weight gradient, a product over H*W*N that
    matmul can only split by columns, stays with the direct kernel's tiles (1.7-1.8 vs 2.0 ms)."""
    return (geometry.kernel_size == (1, 1) and geometry.stride == (1, 1) and geometry.groups == 1
            and not any(geometry.padding[0] + geometry.padding[1]))


def _threads(flops: float) -> int:
    """The threads that share a call of ``flops``: one below the ``parallel_conv_flops`` setting, else every
    usable one."""
    return 1 if flops < config.get("parallel_conv_flops") else claim_cores()


def _sharing(kernels, height: int, batch: int, positions: int, flops: float, dtype, pieces_per_thread: int):
    """``(threads, counter, piece)`` for a forward or input-gradient call over ``positions`` output positions:
    one thread and no counter for a small call, else the threads that share it, a fresh counter and the units
    of work (see conv_rows in kernels/direct_conv.c) per piece."""
    threads = _threads(flops)
    if threads <= 1:
        return 1, None, 1
    units = positions * kernels.conv_units(height, batch, dtype)
    return threads, compiled.new_counter(), max(1, units // (pieces_per_thread * threads))


def forward(x, weight, geometry, bias=None, pieces_per_thread: int = PIECES_PER_THREAD):
    """``(y, x_stored)``: ``conv2d(x, weight) + bias`` (bias (C_out,) or None) of an (N, C, H, W) array as a
    (C_out, out_h, out_w, N) C-contiguous array, and ``x`` as an (N, C, H, W) view of (C, H, W, N) memory (a
    copy when it did not lie so; keep it for the weight gradient); None when the direct kernel does not
    apply. A shared call is cut into ``pieces_per_thread`` pieces per thread."""
    out_channels = weight.shape[0]
    plan = _plan(x, weight, geometry, out_channels)
    if plan is None or (bias is not None and compiled.for_arrays(x, bias) is None):
        return None
    kernels, height = plan
    batch = x.shape[0]
    out_h, out_w = geometry.output_shape(*x.shape[2:])
    source = chwn(x)
    if pointwise(geometry):
        claim_cores()  # as the kernels would: from here on Ember splits the GEMMs, not OpenBLAS
        y = matmul(weight.reshape(out_channels, -1), source.reshape(source.shape[0], -1))
        if bias is not None:
            y += bias[:, None]
        return y.reshape(out_channels, out_h, out_w, batch), source.transpose(3, 0, 1, 2)
    runs = run_batch(kernels, batch, x.dtype)
    if not runs:
        return None
    packed = pack(weight.transpose(0, 2, 3, 1), height)
    bias = None if bias is None else np.ascontiguousarray(bias)
    y = empty_aligned((out_channels, out_h, out_w, runs), x.dtype)
    offset = (geometry.padding[0][0], geometry.padding[1][0])
    threads, counter, piece = _sharing(kernels, height, runs, out_h * out_w, 2.0 * y.size * weight[0].size,
                                       x.dtype, pieces_per_thread)
    padded = _padded(source, runs)
    share(lambda: kernels.conv_forward(padded, packed, height, geometry.kernel_size, geometry.stride,
                                       geometry.dilation, offset, y, 0, out_h, bias, counter, piece), threads)
    return _unpadded(y, batch), source.transpose(3, 0, 1, 2)


def input_grad(grad, weight, geometry, input_shape, pieces_per_thread: int = PIECES_PER_THREAD):
    """The gradient wrt the (N, C, H, W) input of shape ``input_shape`` of ``conv2d(x, weight)`` given the
    output gradient ``grad``, as a C-contiguous (C, H, W, N) array, or None when the direct kernel does not
    apply. A shared call is cut into ``pieces_per_thread`` pieces per thread."""
    batch, channels, height_in, width_in = input_shape
    plan = _plan(grad, weight, geometry, channels)
    if plan is None:
        return None
    kernels, height = plan
    runs = run_batch(kernels, batch, grad.dtype)
    if not runs:
        return None
    source = _padded(chwn(grad), runs)
    packed = pack(weight.transpose(1, 2, 3, 0), height)
    grad_input = empty_aligned((channels, height_in, width_in, runs), grad.dtype)
    offset = (geometry.padding[0][0], geometry.padding[1][0])
    threads, counter, piece = _sharing(kernels, height, runs, height_in * width_in,
                                       2.0 * source.size * weight[0].size, grad.dtype, pieces_per_thread)
    share(lambda: kernels.conv_input_grad(source, packed, height, geometry.kernel_size, geometry.stride,
                                          geometry.dilation, offset, grad_input, 0, height_in, counter, piece),
          threads)
    return _unpadded(grad_input, batch)


def weight_group(out_w: int) -> int:
    """The output rows one weight-gradient tile sums for output rows ``out_w`` wide: about
    ``WEIGHT_TILE_POSITIONS`` positions, within WEIGHT_GROUP..WEIGHT_GROUP_MAX rows."""
    return min(WEIGHT_GROUP_MAX, max(WEIGHT_GROUP, -(-WEIGHT_TILE_POSITIONS // max(out_w, 1))))


def weight_grad(x, grad, geometry, weight_shape, group: int | None = None, part_unit: int = WEIGHT_PART):
    """The gradient wrt the (C_out, C, kh, kw) weight of ``conv2d(x, weight)`` given the output gradient
    ``grad``, or None when the direct kernel does not apply. Threads share pieces (a range of output rows by a
    part of the output channels, about a multiple of ``part_unit``, so many that the pieces are a multiple of
    the threads); each range sums into its own partial, added in row order; a register tile sums ``group``
    output rows (default ``weight_group`` of the output width)."""
    if config.get("conv") != "direct" or geometry.groups != 1 or not x.shape[0]:  # an empty batch: im2col's zeros
        return None
    kernels = compiled.for_arrays(x, grad)
    if kernels is None:
        return None
    runs = run_batch(kernels, x.shape[0], x.dtype)
    if not runs:
        return None
    source, grads = _padded(chwn(x), runs), _padded(chwn(grad), runs)  # zero entries add nothing
    out_h = grads.shape[1]
    group = weight_group(grads.shape[2]) if group is None else group
    offset = (geometry.padding[0][0], geometry.padding[1][0])
    ranges = weight_ranges(out_h, int(np.prod(weight_shape)) * x.dtype.itemsize, group)
    count = _threads(2.0 * grad.size * x[0].size)
    parts = -(-weight_shape[0] // (part_unit * max(1, round(weight_shape[0] * ranges / (part_unit * 8 * count)))))
    step = count // math.gcd(count, ranges)  # pieces a multiple of the threads: none left waiting at the end
    part = -(-weight_shape[0] // (-(-parts // step) * step))
    partials = np.empty((ranges, *weight_shape), dtype=x.dtype)
    counter = compiled.new_counter()
    share(lambda: kernels.conv_weight_grad(source, grads, geometry.kernel_size, geometry.stride,
                                           geometry.dilation, offset, partials, 0, out_h, counter, part_unit,
                                           group, part), count)
    return partials[0] if ranges == 1 else np.add.reduce(partials, axis=0)  # in row order


def weight_ranges(out_h: int, weight_bytes: int, group: int = WEIGHT_GROUP) -> int:
    """The ranges of output rows a weight gradient sums into partials of their own: about four tile groups
    of ``group`` rows each, within ``PARTIALS_BYTES``; a function of the shape alone."""
    return max(1, min(-(-out_h // (4 * group)), PARTIALS_BYTES // max(weight_bytes, 1)))


def add_in_row_order(partials: dict):
    """The sum of the partial results of ``split_rows`` ranges, keyed by first row, added in row order (the
    same numbers whichever thread finished first)."""
    starts = sorted(partials)
    total = partials[starts[0]]
    for start in starts[1:]:
        total += partials[start]
    return total


def split_weight_grad(accumulate, out_h: int, x, grad) -> None:
    """Run the im2col weight gradient's ``accumulate(start, stop)`` over ranges of output rows that the shape
    alone sets (``IM2COL_WEIGHT_RANGES`` once the call is large enough to share, else one), the ranges split
    between threads when the compiled kernels run (each builds its own bands and GEMMs); on one thread
    otherwise. The caller adds the ranges' partials in row order: the same numbers on any number of threads."""
    per_image = x.size // max(x.shape[0], 1)  # 0 for an empty batch
    flops = 2.0 * grad.size * per_image
    shared = config.get("conv") == "direct" and compiled.for_arrays(x, grad) is not None
    large = shared and flops >= config.get("parallel_conv_flops")
    ranges = max(1, min(out_h, IM2COL_WEIGHT_RANGES)) if large else 1
    bounds = [out_h * index // ranges for index in range(ranges + 1)]

    def run(first: int, last: int) -> None:
        for index in range(first, last):
            accumulate(bounds[index], bounds[index + 1])

    split_rows(run, ranges, _threads(flops) if large else 1)


__all__ = ["block_height", "pack", "chwn", "vector_share", "run_batch", "pointwise", "forward", "input_grad",
           "weight_group", "weight_grad", "weight_ranges", "add_in_row_order", "split_weight_grad"]
