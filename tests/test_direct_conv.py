"""The direct convolutions (backend/direct_conv.py, kernels.c): forward, input and weight gradients give the
numbers of the im2col + GEMM path for every block height, batch tail, stride, dilation and padding, split
between threads or not, and the cases they leave to im2col."""
from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

import ember
from ember.backend import compiled, direct_conv, threads
from ember.functions.conv import ConvGeometry

CASES = [  # (N, C_in, H, W, C_out, kernel, stride, dilation, padding)
    (5, 3, 9, 7, 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (37, 12, 12, 12, 24, (6, 6), (2, 2), (1, 1), ((2, 2), (2, 2))),
    (19, 8, 11, 10, 12, (5, 4), (2, 3), (1, 1), ((1, 2), (0, 3))),
    (16, 24, 10, 9, 32, (3, 2), (1, 2), (2, 3), ((0, 0), (2, 1))),
    (64, 16, 7, 7, 64, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (1, 20, 6, 6, 10, (2, 2), (3, 3), (1, 1), ((0, 0), (0, 0))),
    (33, 1, 8, 8, 24, (6, 6), (1, 1), (1, 1), ((2, 3), (2, 3))),
]


def _spy(monkeypatch, kernels, name: str) -> list:
    calls, original = [], getattr(kernels, name)

    rows_at = 7 if name == "conv_weight_grad" else 8  # where (start, stop) come in the kernel's arguments

    def counting(*args, **kwargs):
        calls.append(tuple(args[rows_at:rows_at + 2]))
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, name, counting)
    return calls


def _conv_and_grads(x_np, w_np, b_np, g_np, geometry):
    (kernel, stride, dilation, padding) = geometry
    x, w, b = (ember.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    y = ember.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    y.backward(ember.tensor(g_np))
    return y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("thread_count", ["1", "3"])
def test_direct_convolution_matches_im2col(kernels, monkeypatch, case, dtype, thread_count):
    batch, channels, height, width, out_channels, kernel, stride, dilation, padding = case
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    w_np = rng.standard_normal((out_channels, channels, *kernel)).astype(dtype)
    b_np = rng.standard_normal(out_channels).astype(dtype)
    geometry = (kernel, stride, dilation, padding)
    monkeypatch.setenv("EMBER_NUM_THREADS", thread_count)
    monkeypatch.setattr(direct_conv, "PARALLEL_FLOPS", 0)
    forward_calls = _spy(monkeypatch, kernels, "conv_forward")
    input_calls = _spy(monkeypatch, kernels, "conv_input_grad")
    weight_calls = _spy(monkeypatch, kernels, "conv_weight_grad")
    y = ember.conv2d(ember.tensor(x_np), ember.tensor(w_np), ember.tensor(b_np), stride=stride, padding=padding,
                     dilation=dilation)
    g_np = rng.standard_normal(y.shape).astype(dtype)
    direct = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
    out_h = y.shape[2]
    ranges = min(out_h, int(thread_count) * threads.PIECES_PER_THREAD) if thread_count != "1" else 1
    assert len(forward_calls) == 2 * ranges  # the two forward passes above, split into row ranges
    for calls in (forward_calls[:ranges], forward_calls[ranges:], weight_calls):
        assert [row for start, stop in sorted(calls) for row in range(start, stop)] == list(range(out_h))
    takes_input_grad = direct_conv.block_height(kernels, channels) is not None
    assert bool(input_calls) == takes_input_grad
    with monkeypatch.context() as patch:
        patch.setattr(direct_conv, "ENABLED", False)
        reference = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
    tolerance = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for got, want in zip(direct, reference):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tolerance)


def test_direct_convolution_takes_any_memory_order(kernels):
    """An (N, C, H, W) C-contiguous input (copied once into (C, H, W, N)) and a sliced one give the numbers
    of a (C, H, W, N) one."""
    rng = np.random.default_rng(1)
    chwn = rng.standard_normal((12, 10, 10, 9)).astype(np.float32)
    w = ember.tensor(rng.standard_normal((24, 12, 3, 3)).astype(np.float32))
    expected = ember.conv2d(ember.tensor(chwn.transpose(3, 0, 1, 2)), w, padding=1).numpy()
    nchw = np.ascontiguousarray(chwn.transpose(3, 0, 1, 2))
    np.testing.assert_allclose(ember.conv2d(ember.tensor(nchw), w, padding=1).numpy(), expected, rtol=1e-6)
    wide = np.zeros((12, 10, 10, 18), np.float32)
    wide[..., ::2] = chwn
    sliced = ember.tensor(wide.transpose(3, 0, 1, 2)[::2])
    np.testing.assert_allclose(ember.conv2d(sliced, w, padding=1).numpy(), expected, rtol=1e-6)


def test_block_height_pads_at_most_a_third(kernels):
    full, half, third = kernels.conv_block_heights()
    assert direct_conv.block_height(kernels, half) == half
    assert direct_conv.block_height(kernels, 2 * full) == half  # ties go to the two-vector block
    assert direct_conv.block_height(kernels, 4 * third) in (half, third)
    assert direct_conv.block_height(kernels, 1) is None  # one channel in a block of several
    for channels in range(1, 200):
        height = direct_conv.block_height(kernels, channels)
        if height is not None:
            padded = -(-channels // height) * height
            assert 3 * (padded - channels) <= padded


def test_pack_lays_weights_out_by_block(kernels):
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((10, 3, 2, 4))  # (rows, kh, kw, inner)
    packed = direct_conv.pack(weight, 4)
    assert packed.shape == (3, 2 * 4 * 3, 4) and packed.flags.c_contiguous
    for row in range(12):
        block, k = divmod(row, 4)
        want = weight[row].reshape(-1) if row < 10 else np.zeros(24)
        np.testing.assert_array_equal(packed[block, :, k], want)


def test_cases_left_to_im2col(kernels):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    grouped = ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2)
    assert direct_conv.forward(x, rng.standard_normal((8, 2, 3, 3)).astype(np.float32), grouped) is None
    wide = kernels.conv_max_taps + 1
    geometry = ConvGeometry((1, wide), (1, 1), ((0, 0), (wide, wide)), (1, 1), 1)
    assert direct_conv.forward(x, rng.standard_normal((8, 4, 1, wide)).astype(np.float32), geometry) is None
    plain = ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    w = rng.standard_normal((8, 4, 3, 3))
    assert direct_conv.forward(x, w, plain) is None  # mixed dtypes
    assert direct_conv.input_grad(rng.standard_normal((2, 8, 8, 8)).astype(np.float32), w.astype(np.float32),
                                  ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1), (2, 1, 8, 8)) is None


def test_direct_kernels_refuse_arrays_that_do_not_fit(kernels):
    height = kernels.conv_block_heights()[1]
    x = np.zeros((2, 5, 5, 3), np.float32)
    packed = np.zeros((1, 2 * 9, height), np.float32)
    y = np.zeros((4, 5, 5, 3), np.float32)
    args = ((3, 3), (1, 1), (1, 1), (1, 1))
    kernels.conv_forward(x, packed, height, *args, y, 0, 5)
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x, packed[:, :-1], height, *args, y, 0, 5)  # too few weights
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x, packed, height, *args, y, 0, 6)  # rows past the output
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x, packed, height + 1, *args, y, 0, 5)  # a block height it was not built for
    with pytest.raises(ValueError, match="conv_input_grad"):
        kernels.conv_input_grad(y, np.zeros((1, 4 * 9, height), np.float32), height, *args,
                                np.zeros((2, 5, 5, 2), np.float32), 0, 5)  # batch sizes differ
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x.transpose(0, 2, 1, 3), packed, height, *args, y, 0, 5)  # not C-contiguous
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x, packed, height, *args, y, 0, 5, np.zeros(3, np.float32))  # a bias per channel


@pytest.mark.parametrize("flags", [(), ("-mavx2", "-mfma")], ids=["baseline", "avx2"])
def test_direct_convolution_built_for_other_vector_widths(kernels, monkeypatch, tmp_path, flags):
    """The kernels built without -march=native (16-byte vectors, the 12-row block) or for AVX2 (32-byte
    vectors) give the same numbers as im2col, as they would on a machine with narrower vectors."""
    if flags and "avx2" not in open("/proc/cpuinfo").read():
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setattr(compiled, "TUNED_FLAGS", flags)
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    narrow = compiled.kernels({"EMBER_CACHE": str(tmp_path)})
    assert narrow is not None and narrow.vector_bytes == (32 if flags else 16)
    monkeypatch.setattr(direct_conv, "PARALLEL_FLOPS", 0)
    rng = np.random.default_rng(6)
    for batch, channels, out_channels in ((21, 6, 12), (8, 13, 9)):
        x_np = rng.standard_normal((batch, channels, 9, 8)).astype(np.float32)
        w_np = rng.standard_normal((out_channels, channels, 3, 4)).astype(np.float32)
        b_np = rng.standard_normal(out_channels).astype(np.float32)
        geometry = ((3, 4), (2, 1), (1, 1), ((1, 1), (2, 1)))
        calls = _spy(monkeypatch, narrow, "conv_weight_grad")
        g_np = rng.standard_normal((batch, out_channels, 5, 8)).astype(np.float32)
        direct = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
        assert calls
        with monkeypatch.context() as patch:
            patch.setattr(direct_conv, "ENABLED", False)
            reference = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
        for got, want in zip(direct, reference):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_weight_gradient_does_not_depend_on_which_range_ends_first(kernels, monkeypatch):
    """Partial sums of the row ranges are added in row order, so the gradient is the same, bit for bit,
    however the threads' ranges interleave."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((16, 6, 12, 12)).astype(np.float32)
    grad = rng.standard_normal((16, 8, 12, 12)).astype(np.float32)
    geometry = ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    monkeypatch.setattr(direct_conv, "PARALLEL_FLOPS", 0)

    def in_order(reverse):
        def split(function, total, count=None):
            pieces = [(start, min(total, start + 2)) for start in range(0, total, 2)]
            for start, stop in reversed(pieces) if reverse else pieces:
                function(start, stop)
        return split

    monkeypatch.setattr(direct_conv, "split_rows", in_order(False))
    forward = direct_conv.weight_grad(x, grad, geometry, (8, 6, 3, 3))
    monkeypatch.setattr(direct_conv, "split_rows", in_order(True))
    backward = direct_conv.weight_grad(x, grad, geometry, (8, 6, 3, 3))
    np.testing.assert_array_equal(forward, backward)
