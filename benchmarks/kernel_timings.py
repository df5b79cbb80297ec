"""Ember's compiled CPU kernels one call at a time, on fixed shapes: the timings behind docs/performance.md.

    PYTHONPATH=src .venv/bin/python benchmarks/kernel_timings.py             # every case, best of 15 calls
    PYTHONPATH=src .venv/bin/python benchmarks/kernel_timings.py --only conv relu --repeats 31

Each case calls one method of ``ember.backend.compiled.Kernels`` directly on the calling thread (no helper
threads, no autograd, no Python op around it) and prints the best of ``--repeats`` calls in milliseconds.
The convolutions take the three workloads' layers (``step_profile.CONV_LAYERS``) on (C, H, W, N) float32
arrays, with the block height, weight packing, row groups, ranges and output-channel parts that
``backend/direct_conv.py`` would choose for one thread; the forward and input gradient take their pieces
from a counter as a shared call does. ``relu 1000`` is one small call: its time is mostly the call's
overhead (argument checks, ctypes). The machine's other work shows in these numbers: compare two builds by
alternating runs of this script and taking medians.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from step_profile import CONV_LAYERS


def best_ms(call, repeats: int) -> float:
    """The shortest of ``repeats`` timed calls (after one untimed), in milliseconds."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def conv_cases(kernels, rng):
    """(label, call) for the forward, input gradient and weight gradient of every workload's convolutions."""
    from ember.backend import compiled, direct_conv

    for name, layers in CONV_LAYERS.items():
        for batch, channels, size, out_channels, kernel, stride, ((top, bottom), (left, right)) in layers:
            out_size = (size + top + bottom - kernel) // stride + 1
            x = rng.standard_normal((channels, size, size, batch), dtype=np.float32)
            weight = rng.standard_normal((out_channels, channels, kernel, kernel), dtype=np.float32)
            grad = rng.standard_normal((out_channels, out_size, out_size, batch), dtype=np.float32)
            taps, strides, dilation, offset = (kernel, kernel), (stride, stride), (1, 1), (top, left)
            label = f"{name} {channels}->{out_channels} {kernel}x{kernel}/{stride}"

            forward_height = direct_conv.block_height(kernels, out_channels)
            if forward_height is not None:
                packed = direct_conv.pack(weight.transpose(0, 2, 3, 1), forward_height)
                y = np.empty_like(grad)
                units = out_size * out_size * kernels.conv_units(forward_height, batch, np.float32)
                piece = max(1, units // direct_conv.PIECES_PER_THREAD)
                yield f"conv forward {label}", lambda packed=packed, y=y, x=x, h=forward_height, o=out_size, \
                    p=piece, t=taps, s=strides, f=offset: kernels.conv_forward(
                        x, packed, h, t, s, dilation, f, y, 0, o, None, compiled.new_counter(), p)

            input_height = direct_conv.block_height(kernels, channels)
            if input_height is not None:
                packed = direct_conv.pack(weight.transpose(1, 2, 3, 0), input_height)
                grad_input = np.empty_like(x)
                units = size * size * kernels.conv_units(input_height, batch, np.float32)
                piece = max(1, units // direct_conv.PIECES_PER_THREAD)
                yield f"conv input grad {label}", lambda packed=packed, g=grad, gi=grad_input, h=input_height, \
                    n=size, p=piece, t=taps, s=strides, f=offset: kernels.conv_input_grad(
                        g, packed, h, t, s, dilation, f, gi, 0, n, compiled.new_counter(), p)

            ranges = direct_conv.weight_ranges(out_size, weight.nbytes)
            unit = direct_conv.WEIGHT_PART
            part = unit * max(1, round(out_channels * ranges / (unit * 8)))
            partials = np.empty((ranges, *weight.shape), np.float32)
            yield f"conv weight grad {label}", lambda x=x, g=grad, w=partials, o=out_size, p=part, t=taps, \
                s=strides, f=offset: kernels.conv_weight_grad(
                    x, g, t, s, dilation, f, w, 0, o, compiled.new_counter(), unit, direct_conv.WEIGHT_GROUP, p)


def other_cases(kernels, rng):
    """(label, call) for batch norm, max pooling, ReLU's gradient, Adam, im2col/col2im and the transpose."""
    x = rng.standard_normal((24, 64, 28, 28), dtype=np.float32)  # bn_convnet's first layer, (C, N, H, W)
    channel = np.ones(24, np.float32)
    x_hat, y, grad_input = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    mean, var, inv_std, grad_weight, grad_bias = (np.empty(24, np.float32) for _ in range(5))
    yield "batch norm forward 24 x 50176", lambda: kernels.batch_norm_forward(
        x, channel, channel, 1e-3, x_hat, y, mean, var, inv_std)
    yield "batch norm backward 24 x 50176", lambda: kernels.batch_norm_backward(
        x, x_hat, inv_std, channel, grad_input, grad_weight, grad_bias)

    pool_in = rng.standard_normal((64, 28, 28, 64), dtype=np.float32)  # (C, H, W, N)
    pooled = np.empty((64, 14, 14, 64), np.float32)
    argmax = np.empty(pooled.shape, np.uint8)
    pool_grad = np.empty_like(pool_in)
    yield "max pool forward 2x2 (64,28,28,64)", lambda: kernels.max_pool_forward(
        pool_in, (2, 2), (2, 2), (1, 1), pooled, argmax, 0, 64)
    yield "max pool backward 2x2 (64,28,28,64)", lambda: kernels.max_pool_backward(
        pooled, argmax, (2, 2), (2, 2), (1, 1), pool_grad, 0, 64, assign=True)
    overlapping = np.empty((64, 13, 13, 64), np.float32)
    overlapping_argmax = np.empty(overlapping.shape, np.uint8)
    yield "max pool forward 3x3/2 (64,28,28,64)", lambda: kernels.max_pool_forward(
        pool_in, (3, 3), (2, 2), (1, 1), overlapping, overlapping_argmax, 0, 64)
    yield "max pool backward 3x3/2 (64,28,28,64)", lambda: kernels.max_pool_backward(
        overlapping, overlapping_argmax, (3, 3), (2, 2), (1, 1), pool_grad, 0, 64)

    for count in (1000, 3_211_264):
        grad, out = rng.standard_normal(count, dtype=np.float32), np.empty(count, np.float32)
        relu_y = np.maximum(rng.standard_normal(count, dtype=np.float32), 0)
        yield f"relu backward {count}", lambda grad=grad, relu_y=relu_y, out=out: kernels.relu_backward(
            grad, relu_y, out)

    param, adam_grad, exp_avg, exp_avg_sq = (rng.standard_normal(1_000_000, dtype=np.float32) ** 2
                                             for _ in range(4))
    yield "adam 1000000", lambda: kernels.adam(param, adam_grad, exp_avg, exp_avg_sq, 0.1, 0.9, 0.001, 0.999,
                                               1.0, 1e-8, 1e-3)

    image = rng.standard_normal((12, 28, 28, 128), dtype=np.float32)  # convnet's second layer's input
    matrix = np.empty((12 * 36, 14 * 14 * 128), np.float32)
    yield "im2col 12x28x28x128 6x6/2", lambda: kernels.columns(image, matrix, 6, 6, 2, 2, 1, 1, 2, 2, 0, 14, 14,
                                                              False)
    yield "col2im 12x28x28x128 6x6/2", lambda: kernels.columns(image, matrix, 6, 6, 2, 2, 1, 1, 2, 2, 0, 14, 14,
                                                              True)
    batch_major = rng.standard_normal((128, 12 * 28 * 28), dtype=np.float32)
    transposed = np.empty(batch_major.shape[::-1], np.float32)
    yield "transpose (128, 9408)", lambda: kernels.transpose(batch_major, transposed, 0, batch_major.shape[1])


def main(argv=None) -> None:
    from ember.backend import compiled

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per case (default 15)")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="cases whose label holds one of these words")
    args = parser.parse_args(argv)
    kernels = compiled.kernels()
    if kernels is None:
        raise SystemExit(f"kernel_timings: no compiled kernels: {compiled.status()}")
    print(f"{compiled.status()}; ms, best of {args.repeats} calls on one thread")
    rng = np.random.default_rng(0)
    for label, call in [*conv_cases(kernels, rng), *other_cases(kernels, rng)]:
        if args.only and not any(word in label for word in args.only):
            continue
        print(f"{label:48s} {best_ms(call, args.repeats):10.4f}")


if __name__ == "__main__":
    main()
