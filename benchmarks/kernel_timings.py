"""Ember's compiled CPU kernels one call at a time, on fixed shapes: the timings behind docs/performance.md.

    PYTHONPATH=src .venv/bin/python benchmarks/kernel_timings.py             # every case, best of 15 calls
    PYTHONPATH=src .venv/bin/python benchmarks/kernel_timings.py --only conv relu --repeats 31
    PYTHONPATH=src .venv/bin/python benchmarks/kernel_timings.py --tuning     # shape choices against others

Each case calls one method of ``ember.backend.compiled.Kernels`` directly on the calling thread (no helper
threads, no autograd, no Python op around it) and prints the best of ``--repeats`` calls in milliseconds.
The convolutions take the three workloads' layers (``step_profile.CONV_LAYERS``) on (C, H, W, N) float32
arrays, with the block height, weight packing, row groups, ranges and output-channel parts that
``backend/direct_conv.py`` would choose for one thread; the forward and input gradient take their pieces
from a counter as a shared call does. ``relu 1000`` is one small call: its time is mostly the call's
overhead (argument checks, ctypes). Every array starts on a 64-byte boundary (a cache line, an AVX-512
vector): placed wherever the heap put them, the same build's weight gradient of one layer moved by 10-15%
from one run to another (with another ``--only`` selection). The machine's other work shows in these
numbers too: compare two builds by alternating runs of this script and taking medians.
"""
from __future__ import annotations

import argparse

import numpy as np

from step_profile import CONV_LAYERS, best_ms


ALIGNMENT = 64


def aligned(array):
    """A C-contiguous copy of ``array`` whose first number lies on a ``ALIGNMENT``-byte boundary."""
    buffer = np.empty(array.nbytes + ALIGNMENT, np.uint8)
    skip = -buffer.ctypes.data % ALIGNMENT
    copy = buffer[skip:skip + array.nbytes].view(array.dtype).reshape(array.shape)
    copy[...] = array
    return copy


def random(rng, shape):
    """Aligned float32 standard normal numbers."""
    return aligned(rng.standard_normal(shape, dtype=np.float32))


def empty(shape, dtype=np.float32):
    """An aligned array of ``shape`` (zeros)."""
    return aligned(np.zeros(shape, dtype))


class Layer:
    """One workload's convolution on aligned (C, H, W, N) float32 arrays, and its kernels' calls."""

    def __init__(self, kernels, rng, name, batch, channels, size, out_channels, kernel, stride, padding):
        (top, bottom), (left, _) = padding
        self.kernels, self.size = kernels, size
        self.out_size = (size + top + bottom - kernel) // stride + 1
        self.x = random(rng, (channels, size, size, batch))
        self.weight = random(rng, (out_channels, channels, kernel, kernel))
        self.grad = random(rng, (out_channels, self.out_size, self.out_size, batch))
        self.geometry = (kernel, kernel), (stride, stride), (1, 1), (top, left)
        self.label = f"{name} {channels}->{out_channels} {kernel}x{kernel}/{stride}"

    def forward(self, height):
        """conv_forward with blocks of ``height`` channels, its pieces as a shared call cuts them."""
        from ember.backend import compiled, direct_conv

        packed = aligned(direct_conv.pack(self.weight.transpose(0, 2, 3, 1), height))
        y = empty(self.grad.shape)
        units = self.out_size ** 2 * self.kernels.conv_units(height, self.x.shape[3], np.float32)
        piece = max(1, units // direct_conv.PIECES_PER_THREAD)
        return lambda: self.kernels.conv_forward(self.x, packed, height, *self.geometry, y, 0, self.out_size, None,
                                                 compiled.new_counter(), piece)

    def input_grad(self, height):
        """conv_input_grad with blocks of ``height`` channels, its pieces as a shared call cuts them."""
        from ember.backend import compiled, direct_conv

        packed = aligned(direct_conv.pack(self.weight.transpose(1, 2, 3, 0), height))
        grad_input = empty(self.x.shape)
        units = self.size ** 2 * self.kernels.conv_units(height, self.x.shape[3], np.float32)
        piece = max(1, units // direct_conv.PIECES_PER_THREAD)
        return lambda: self.kernels.conv_input_grad(self.grad, packed, height, *self.geometry, grad_input, 0,
                                                    self.size, compiled.new_counter(), piece)

    def weight_grad(self, group, chunk):
        """conv_weight_grad with tiles over ``group`` output rows and ``chunk`` output channels at a time,
        in ranges and parts as direct_conv.weight_grad cuts them for one thread."""
        from ember.backend import compiled, direct_conv

        ranges = direct_conv.weight_ranges(self.out_size, self.weight.nbytes, group)
        unit = direct_conv.WEIGHT_PART
        part = unit * max(1, round(self.weight.shape[0] * ranges / (unit * 8)))
        partials = empty((ranges, *self.weight.shape))
        return lambda: self.kernels.conv_weight_grad(self.x, self.grad, *self.geometry, partials, 0, self.out_size,
                                                     compiled.new_counter(), chunk, group, part)


def layers(kernels, rng):
    return [Layer(kernels, rng, name, *layer) for name, group in CONV_LAYERS.items() for layer in group]


def conv_cases(kernels, rng):
    """(label, call) for the forward, input gradient and weight gradient of every workload's convolutions, as
    backend/direct_conv.py runs them."""
    from ember.backend import direct_conv

    for layer in layers(kernels, rng):
        out_channels, channels = layer.weight.shape[:2]
        if direct_conv.block_height(kernels, out_channels) is not None:
            yield f"conv forward {layer.label}", layer.forward(direct_conv.block_height(kernels, out_channels))
        if direct_conv.block_height(kernels, channels) is not None:
            yield f"conv input grad {layer.label}", layer.input_grad(direct_conv.block_height(kernels, channels))
        yield f"conv weight grad {layer.label}", layer.weight_grad(direct_conv.WEIGHT_GROUP, direct_conv.WEIGHT_PART)


def tuning_cases(kernels, rng):
    """(label, call) for the shape choices of the direct convolutions against their alternatives: every block
    height for each forward; row groups of 1, 2, 4 and 8 and output-channel chunks of 12, 24 and all for
    each weight gradient (direct_conv.py: WEIGHT_GROUP = 4, chunks of WEIGHT_PART = 12)."""
    for layer in layers(kernels, rng):
        for height in kernels.conv_block_heights():
            yield f"forward height {height} {layer.label}", layer.forward(height)
        for group in (1, 2, 4, 8):
            yield f"weight grad group {group} chunk 12 {layer.label}", layer.weight_grad(group, 12)
        for chunk in (24, 0):
            yield f"weight grad group 4 chunk {chunk or 'all'} {layer.label}", layer.weight_grad(4, chunk)


def other_cases(kernels, rng):
    """(label, call) for batch norm, max pooling, ReLU's gradient, Adam, im2col/col2im and the transpose."""
    x = random(rng, (24, 64, 28, 28))  # bn_convnet's first layer, (C, N, H, W)
    channel = aligned(np.ones(24, np.float32))
    x_hat, y, grad_input = empty(x.shape), empty(x.shape), empty(x.shape)
    mean, var, inv_std, grad_weight, grad_bias = (empty(24) for _ in range(5))
    yield "batch norm forward 24 x 50176", lambda: kernels.batch_norm_forward(
        x, channel, channel, 1e-3, x_hat, y, mean, var, inv_std)
    yield "batch norm backward 24 x 50176", lambda: kernels.batch_norm_backward(
        x, x_hat, inv_std, channel, grad_input, grad_weight, grad_bias)

    pool_in = random(rng, (64, 28, 28, 64))  # (C, H, W, N)
    pooled = empty((64, 14, 14, 64))
    argmax = empty(pooled.shape, np.uint8)
    pool_grad = empty(pool_in.shape)
    yield "max pool forward 2x2 (64,28,28,64)", lambda: kernels.max_pool_forward(
        pool_in, (2, 2), (2, 2), (1, 1), pooled, argmax, 0, 64)
    yield "max pool backward 2x2 (64,28,28,64)", lambda: kernels.max_pool_backward(
        pooled, argmax, (2, 2), (2, 2), (1, 1), pool_grad, 0, 64, assign=True)
    overlapping = empty((64, 13, 13, 64))
    overlapping_argmax = empty(overlapping.shape, np.uint8)
    yield "max pool forward 3x3/2 (64,28,28,64)", lambda: kernels.max_pool_forward(
        pool_in, (3, 3), (2, 2), (1, 1), overlapping, overlapping_argmax, 0, 64)
    yield "max pool backward 3x3/2 (64,28,28,64)", lambda: kernels.max_pool_backward(
        overlapping, overlapping_argmax, (3, 3), (2, 2), (1, 1), pool_grad, 0, 64)

    for count in (1000, 3_211_264):
        grad, out = random(rng, count), empty(count)
        relu_y = np.maximum(random(rng, count), 0, out=empty(count))
        yield f"relu backward {count}", lambda grad=grad, relu_y=relu_y, out=out: kernels.relu_backward(
            grad, relu_y, out)

    param, adam_grad, exp_avg, exp_avg_sq = (aligned(random(rng, 1_000_000) ** 2) for _ in range(4))
    yield "adam 1000000", lambda: kernels.adam(param, adam_grad, exp_avg, exp_avg_sq, 0.1, 0.9, 0.001, 0.999,
                                               1.0, 1e-8, 1e-3)

    image = random(rng, (12, 28, 28, 128))  # convnet's second layer's input
    matrix = empty((12 * 36, 14 * 14 * 128))
    yield "im2col 12x28x28x128 6x6/2", lambda: kernels.columns(image, matrix, 6, 6, 2, 2, 1, 1, 2, 2, 0, 14, 14,
                                                              False)
    yield "col2im 12x28x28x128 6x6/2", lambda: kernels.columns(image, matrix, 6, 6, 2, 2, 1, 1, 2, 2, 0, 14, 14,
                                                              True)
    batch_major = random(rng, (128, 12 * 28 * 28))
    transposed = empty(batch_major.shape[::-1])
    yield "transpose (128, 9408)", lambda: kernels.transpose(batch_major, transposed, 0, batch_major.shape[1])


def main(argv=None) -> None:
    from ember.backend import compiled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per case (default 15)")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="cases whose label holds one of these words")
    parser.add_argument("--tuning", action="store_true",
                        help="instead, the direct convolutions' block heights, row groups and chunks against "
                             "their alternatives")
    args = parser.parse_args(argv)
    kernels = compiled.kernels()
    if kernels is None:
        raise SystemExit(f"kernel_timings: no compiled kernels: {compiled.status()}")
    print(f"{compiled.status()}; ms, best of {args.repeats} calls on one thread")
    rng = np.random.default_rng(0)
    cases = tuning_cases(kernels, rng) if args.tuning else [*conv_cases(kernels, rng), *other_cases(kernels, rng)]
    for label, call in cases:
        if args.only and not any(word in label for word in args.only):
            continue
        print(f"{label:56s} {best_ms(call, args.repeats):10.4f}")


if __name__ == "__main__":
    main()
