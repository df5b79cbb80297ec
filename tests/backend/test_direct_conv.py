"""The direct convolutions (backend/direct_conv.py, kernels/direct_conv.c, kernels/weight_grad.c): forward,
input and weight gradients give the numbers of the im2col + GEMM path for every block height, batch tail,
stride, dilation and padding, split between threads or not, and the cases they leave to im2col."""
from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import compiled, direct_conv, threads
from ember.functions.conv import ConvGeometry


@pytest.fixture(autouse=True)
def every_batch_direct(monkeypatch):
    """The kernels on every batch as it is, tails of single entries included (in use, batches that are not
    whole vectors run padded or go the im2col way: ``test_batches_that_are_not_whole_vectors``)."""
    monkeypatch.setattr(direct_conv, "MIN_VECTOR_SHARE", 0.0)
    monkeypatch.setattr(direct_conv, "PAD_BATCHES", False)


CASES = [  # (N, C_in, H, W, C_out, kernel, stride, dilation, padding)
    (5, 3, 9, 7, 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (37, 12, 12, 12, 24, (6, 6), (2, 2), (1, 1), ((2, 2), (2, 2))),
    (19, 8, 11, 10, 12, (5, 4), (2, 3), (1, 1), ((1, 2), (0, 3))),
    (16, 24, 10, 9, 32, (3, 2), (1, 2), (2, 3), ((0, 0), (2, 1))),
    (64, 16, 7, 7, 64, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (1, 20, 6, 6, 10, (2, 2), (3, 3), (1, 1), ((0, 0), (0, 0))),
    (33, 1, 8, 8, 24, (6, 6), (1, 1), (1, 1), ((2, 3), (2, 3))),
    (9, 2, 11, 13, 12, (3, 5), (2, 2), (2, 2), ((1, 2), (3, 4))),  # taps tiled: 3 + 1 + 1, dilated, strided
    (7, 1, 9, 12, 8, (2, 7), (1, 3), (1, 1), ((0, 1), (5, 0))),  # 6 + 1 taps, columns no tap tile reaches
    (70, 6, 7, 8, 1, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),  # one output channel: blocks of one row
    (37, 2, 9, 8, 3, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),  # few channels both ways, a batch tail
    # rows of 18 or more, kernels 3 wide: weight tiles of channel pairs by 3 taps (AVX-512), an odd channel
    (19, 7, 5, 20, 9, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (5, 4, 4, 40, 6, (2, 3), (1, 2), (1, 2), ((0, 1), (2, 0))),  # strided, dilated, one edge; batch tail only
    # input channels a multiple of 4 KB long: the forward's blocks sum channel by channel
    (16, 5, 8, 8, 12, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    (40, 3, 8, 16, 8, (3, 2), (2, 1), (1, 2), ((1, 1), (1, 0))),  # strided, dilated, a batch tail
    # kernels 3 wide, dilation 1: weight window tiles (AVX-512) over blocks of columns, both edges read as zeros
    (21, 5, 9, 17, 6, (3, 3), (2, 2), (1, 1), ((1, 1), (2, 0))),  # stride 2, left padding 2, an odd channel
    (18, 4, 6, 11, 5, (2, 3), (1, 1), (1, 1), ((0, 1), (0, 2))),  # left padding 0, right 2
]


def _spy(monkeypatch, kernels, name: str) -> list:
    """Record each call's (start, stop, counter) of kernel ``name``; the counter is the shared work counter
    (None when the call is not shared)."""
    calls, original = [], getattr(kernels, name)
    rows_at = 7 if name == "conv_weight_grad" else 8  # where (start, stop) come in the kernel's arguments
    counter_at = {"conv_forward": 11, "conv_input_grad": 10, "conv_weight_grad": 9}[name]

    def counting(*args, **kwargs):
        counter = args[counter_at] if len(args) > counter_at else kwargs.get("counter")
        calls.append((*args[rows_at:rows_at + 2], counter))
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, name, counting)
    return calls


def _passes(calls: list) -> list:
    """Calls grouped by the pass they belong to: one group per shared counter, or per unshared call."""
    groups = {}
    for start, stop, counter in calls:
        groups.setdefault(id(counter) if counter is not None else object(), []).append((start, stop, counter))
    return list(groups.values())


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
    config.set(num_threads=int(thread_count), parallel_conv_flops=0)
    # the weight gradient in line, shared as the others (test_deferred.py: computed beside the pass)
    monkeypatch.setattr(threads, "defer", lambda function: False)
    forward_calls = _spy(monkeypatch, kernels, "conv_forward")
    input_calls = _spy(monkeypatch, kernels, "conv_input_grad")
    weight_calls = _spy(monkeypatch, kernels, "conv_weight_grad")
    y = ember.conv2d(ember.tensor(x_np), ember.tensor(w_np), ember.tensor(b_np), stride=stride, padding=padding,
                     dilation=dilation)
    g_np = rng.standard_normal(y.shape).astype(dtype)
    direct = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
    out_h, sharing = y.shape[2], int(thread_count)
    for kernel_calls, rows, always_counted in ((forward_calls, out_h, False), (input_calls, height, False),
                                               (weight_calls, out_h, True)):
        for calls in _passes(kernel_calls):  # each thread enters once with every row and one shared counter
            assert len(calls) == sharing
            assert {(start, stop) for start, stop, _ in calls} == {(0, rows)}
            assert len({id(counter) for _, _, counter in calls}) == 1
            assert (calls[0][2] is not None) == (always_counted or sharing > 1)  # one thread needs none
    for _, _, counter in forward_calls:
        if counter is not None:  # every piece was taken: the counter went past the last unit
            units = out_h * y.shape[3] * kernels.conv_units(direct_conv.block_height(kernels, out_channels),
                                                            batch, dtype)
            assert counter[0] >= units
    assert len(_passes(forward_calls)) == 2 and len(_passes(weight_calls)) == 1
    takes_input_grad = direct_conv.block_height(kernels, channels) is not None
    assert bool(input_calls) == takes_input_grad
    with config.override(conv="im2col"):
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_convolutions_run_their_forward_as_a_gemm(kernels, monkeypatch, dtype):
    """A 1x1 convolution (stride 1, no padding) runs its forward as a matrix product (no direct kernel), its
    input and weight gradients on the direct kernels; the numbers are im2col's."""
    rng = np.random.default_rng(4)
    x_np = rng.standard_normal((6, 20, 5, 7)).astype(dtype)
    w_np = rng.standard_normal((12, 20, 1, 1)).astype(dtype)
    b_np = rng.standard_normal(12).astype(dtype)
    g_np = rng.standard_normal((6, 12, 5, 7)).astype(dtype)
    config.set(num_threads=2, parallel_gemm_flops=0)
    calls = [_spy(monkeypatch, kernels, name) for name in ("conv_forward", "conv_input_grad", "conv_weight_grad")]
    geometry = ((1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
    direct = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
    assert not calls[0] and calls[1] and calls[2]
    with config.override(conv="im2col"):
        reference = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for got, want in zip(direct, reference):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tolerance)


def test_block_height_pads_at_most_a_third(kernels):
    full, half, third = kernels.conv_block_heights()
    assert direct_conv.block_height(kernels, half) == half
    assert direct_conv.block_height(kernels, 2 * full) == half  # ties go to the two-vector block
    assert direct_conv.block_height(kernels, 4 * third) in (half, third)
    assert direct_conv.block_height(kernels, 1) == 1  # fewer channels than any block: one at a time
    for channels in range(1, 200):
        height = direct_conv.block_height(kernels, channels)
        if height == 1:
            assert channels < third
        elif height is not None:
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
    counter = compiled.new_counter()  # shared work: every piece taken, the counter past the last unit
    kernels.conv_forward(x, packed, height, *args, y, 0, 5, None, counter, 2)
    assert counter[0] >= 5 * 5 * kernels.conv_units(height, 3, np.float32)
    for wrong in (np.zeros(1, np.int32), [0], np.zeros(1, np.float64)):
        with pytest.raises(ValueError, match="conv_forward: counter"):
            kernels.conv_forward(x, packed, height, *args, y, 0, 5, None, wrong, 2)
    with pytest.raises(ValueError, match="conv_forward"):
        kernels.conv_forward(x, packed, height, *args, y, 0, 5, None, compiled.new_counter(), 0)  # empty pieces
    with pytest.raises(ValueError, match="conv_weight_grad"):  # one weight-shaped array where pieces are due
        kernels.conv_weight_grad(x, y, *args, np.zeros((4, 2, 3, 3), np.float32), 0, 5, compiled.new_counter())


@pytest.mark.parametrize("flags", [(), ("-mavx2", "-mfma")], ids=["baseline", "avx2"])
def test_direct_convolution_built_for_other_vector_widths(kernels, monkeypatch, tmp_path, flags):
    """The kernels built without -march=native (16-byte vectors, the 12-row block) or for AVX2 (32-byte
    vectors) give the same numbers as im2col, as they would on a machine with narrower vectors."""
    if flags and "avx2" not in open("/proc/cpuinfo").read():
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setattr(compiled, "TUNED_FLAGS", flags)  # the build under test, loaded afresh
    monkeypatch.setattr(compiled, "_kernels", compiled._UNSET)
    config.set(cache_dir=str(tmp_path), parallel_conv_flops=0)
    narrow = compiled.kernels()
    assert narrow is not None and narrow.vector_bytes == (32 if flags else 16)
    rng = np.random.default_rng(6)
    for batch, channels, out_channels in ((21, 6, 12), (8, 13, 9), (10, 1, 12)):
        x_np = rng.standard_normal((batch, channels, 9, 8)).astype(np.float32)
        w_np = rng.standard_normal((out_channels, channels, 3, 4)).astype(np.float32)
        b_np = rng.standard_normal(out_channels).astype(np.float32)
        geometry = ((3, 4), (2, 1), (1, 1), ((1, 1), (2, 1)))
        calls = _spy(monkeypatch, narrow, "conv_weight_grad")
        g_np = rng.standard_normal((batch, out_channels, 5, 8)).astype(np.float32)
        direct = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
        assert calls
        with config.override(conv="im2col"):
            reference = _conv_and_grads(x_np, w_np, b_np, g_np, geometry)
        for got, want in zip(direct, reference):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


SAME_3X3 = ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)


def _shared_inputs(seed: int, *shapes) -> list:
    """Random float32 arrays of ``shapes``, with every direct convolution however small sharing its work
    between threads (once OpenBLAS is set to one thread)."""
    config.set(parallel_conv_flops=0, num_threads=2)
    if threads.claim_cores() == 1:
        pytest.skip("NumPy here does not use an OpenBLAS that Ember can set to one thread")
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize("group, part", [(4, 12), (1, 4)], ids=["one-range", "ranges-and-parts"])
def test_the_weight_gradient_does_not_depend_on_threads(kernels, monkeypatch, group, part):
    """The rows are cut into ranges that do not depend on the thread count, each summed into its own partial
    and the partials added in row order (parts of the output channels in between): the gradient is the
    same, bit for bit, on one thread or several, and equals the ranges computed one by one and added."""
    x, grad = _shared_inputs(13, (16, 6, 12, 12), (16, 8, 12, 12))
    pieces, original = [], kernels.conv_weight_grad
    monkeypatch.setattr(kernels, "conv_weight_grad",
                        lambda *args: pieces.append((args[6].shape[0], args[-1])) or original(*args))
    results = []
    for count in (1, 2, 3):
        config.set(num_threads=count)
        results += [direct_conv.weight_grad(x, grad, SAME_3X3, (8, 6, 3, 3), group, part) for _ in range(3)]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
    # (ranges, output channels per part): on 2 or 3 threads, so many parts that the pieces are a multiple of them
    assert set(pieces) == ({(1, 8), (1, 4), (1, 3)} if group == 4 else {(3, 4)})
    monkeypatch.setattr(kernels, "conv_weight_grad", original)
    source, grads = direct_conv.chwn(x), direct_conv.chwn(grad)
    ranges = direct_conv.weight_ranges(12, 8 * 6 * 3 * 3 * 4, group)
    total = None
    for k in range(ranges):
        partial = np.zeros((8, 6, 3, 3), np.float32)
        kernels.conv_weight_grad(source, grads, (3, 3), (1, 1), (1, 1), (1, 1), partial, 12 * k // ranges,
                                 12 * (k + 1) // ranges, group=group)
        total = partial if total is None else total + partial
    np.testing.assert_array_equal(results[0], total)


def test_a_shared_forward_gives_the_numbers_of_one_thread(kernels, monkeypatch):
    """Forward and input gradient write every number from one piece: sharing them out changes nothing."""
    x, w = _shared_inputs(14, (32, 8, 10, 10), (24, 8, 3, 3))
    results = []
    for count, per_thread in ((1, 16), (2, 16), (3, 1), (3, 1000)):
        config.set(num_threads=count)
        y, _ = direct_conv.forward(x, w, SAME_3X3, pieces_per_thread=per_thread)
        results.append((y, direct_conv.input_grad(y.transpose(3, 0, 1, 2), w, SAME_3X3, x.shape,
                                                  pieces_per_thread=per_thread)))
    for y, grad_input in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(grad_input, results[0][1])


def test_batches_that_are_not_whole_vectors_run_padded_or_go_to_im2col(kernels, monkeypatch):
    monkeypatch.setattr(direct_conv, "MIN_VECTOR_SHARE", 0.6)
    monkeypatch.setattr(direct_conv, "PAD_BATCHES", True)
    lanes = kernels.vector_bytes // 4
    assert direct_conv.vector_share(kernels, 4 * lanes, np.float32) == 1.0
    assert direct_conv.vector_share(kernels, lanes + lanes // 2, np.float32) == pytest.approx(
        1.5 / (1 + lanes // 2))
    runs = [direct_conv.run_batch(kernels, batch, np.float32)
            for batch in (lanes, 2 * lanes - 1, lanes - 1, lanes // 2)]
    assert runs == [lanes, 2 * lanes, lanes, 0]  # padded while at least 0.6 of it is real, else im2col
    monkeypatch.setattr(direct_conv, "PAD_BATCHES", False)  # tails one entry at a time while 0.6 in vectors
    assert [direct_conv.run_batch(kernels, batch, np.float32)
            for batch in (lanes, 2 * lanes - 1, 2 * lanes + 1)] == [lanes, 0, 2 * lanes + 1]
    monkeypatch.setattr(direct_conv, "PAD_BATCHES", True)
    geometry = ConvGeometry((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    for batch, direct in ((lanes - 1, True), (lanes + lanes // 2 + 1, True), (lanes // 2, False)):
        x = rng.standard_normal((batch, 4, 6, 6)).astype(np.float32)
        grad = rng.standard_normal((batch, 8, 6, 6)).astype(np.float32)
        outputs = (direct_conv.forward(x, weight, geometry), direct_conv.input_grad(grad, weight, geometry, x.shape),
                   direct_conv.weight_grad(x, grad, geometry, weight.shape))
        assert all((output is not None) == direct for output in outputs), batch
        if not direct:
            continue
        (y, stored), grad_input, grad_weight = outputs
        with config.override(conv="im2col"):
            reference = _conv_and_grads(x, weight, np.zeros(8, np.float32), grad,
                                        ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))))
        assert y.shape == (8, 6, 6, batch) and y.flags.c_contiguous and grad_input.shape == (4, 6, 6, batch)
        np.testing.assert_allclose(y.transpose(3, 0, 1, 2), reference[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grad_input.transpose(3, 0, 1, 2), reference[1], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grad_weight, reference[2], rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(stored, x)  # the input itself kept for the weight gradient, not padded
