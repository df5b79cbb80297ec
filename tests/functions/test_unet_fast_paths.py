"""The fast paths a diffusion UNet's step runs on beyond the op table: group norm on the convolutions'
(C, H, W, N) memory and on C-contiguous memory (compiled kernel, outputs in (C, H, W, N) order), SiLU's
compiled float32 pass, group norm and SiLU as one node, nearest upsampling by an integer factor in the input's
memory order; each against the reference path (``fast_paths=False``)."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import config
from ember.backend.layout import memory_order
from ember.functions.normalization import group_norm_silu

CHWN = (1, 2, 3, 0)


def _in_chwn(array):
    return np.ascontiguousarray(array.transpose(CHWN)).transpose(3, 0, 1, 2)


def _run(function, inputs, grad, fast: bool):
    """``function`` on Tensors of ``inputs``: (output array, input gradients), with fast paths on or off."""
    with config.override(fast_paths=fast):
        tensors = [ember.tensor(a, requires_grad=True) for a in inputs]
        y = function(*tensors)
        y.backward(ember.tensor(grad))
        return y.array, [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("layout", ["nchw", "chwn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_fast_path_matches_the_reference_in_either_memory_order(kernels, rng, layout, dtype, affine):
    x = (rng.standard_normal((6, 12, 5, 4)) * 3 + 1).astype(dtype)
    x = _in_chwn(x) if layout == "chwn" else x
    params = [rng.standard_normal(12).astype(dtype) for _ in range(2)] if affine else []
    grad = rng.standard_normal(x.shape).astype(dtype)
    config.set(parallel_numbers=1, num_threads=2)  # split between threads (once Ember has the cores)

    def norm(x, *affine_tensors):
        return ember.group_norm(x, 3, *affine_tensors)

    fast_y, fast_grads = _run(norm, [x, *params], grad, True)
    slow_y, slow_grads = _run(norm, [x, *params], grad, False)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast_y, slow_y, **tolerance)
    for fast, slow in zip(fast_grads, slow_grads):
        np.testing.assert_allclose(fast, slow, **tolerance)
    assert memory_order(fast_y) == CHWN  # what a convolution after it reads without a copy
    assert fast_y.dtype == dtype


def test_group_norm_of_one_sample_keeps_its_order(kernels, rng):
    x = rng.standard_normal((1, 8, 3, 3)).astype(np.float32)
    y = ember.group_norm(ember.tensor(x), 2).array
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, ember.group_norm(ember.tensor(x), 2).numpy(), rtol=0)


def test_silu_compiled_float32_pass_is_within_a_few_ulps_of_tanh(kernels):
    x = np.linspace(-12, 12, 300_000, dtype=np.float32).reshape(3, -1)
    grad = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    config.set(parallel_numbers=1, num_threads=2)
    fast_y, (fast_grad,) = _run(ember.silu, [x], grad, True)
    slow_y, (slow_grad,) = _run(ember.silu, [x], grad, False)
    exact = x.astype(np.float64) / (1 + np.exp(-x.astype(np.float64)))
    # tanh(x/2)/2 + 1/2 cancels for x << 0 in either path: errors are absolute there, a few ulps of 1 times x
    np.testing.assert_allclose(fast_y, exact, rtol=2e-6, atol=4e-6)
    np.testing.assert_allclose(fast_y, slow_y, rtol=2e-6, atol=4e-6)
    np.testing.assert_allclose(fast_grad, slow_grad, rtol=2e-6, atol=1e-5)  # times |grad| up to ~4


def test_silu_keeps_memory_order_and_takes_a_gradient_in_another(kernels, rng):
    x = _in_chwn(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    grad = rng.standard_normal(x.shape).astype(np.float32)  # C-contiguous: a copy into x's order first
    fast_y, (fast_grad,) = _run(ember.silu, [x], grad, True)
    slow_y, (slow_grad,) = _run(ember.silu, [x], grad, False)
    assert memory_order(fast_y) == CHWN
    np.testing.assert_allclose(fast_y, slow_y, rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(fast_grad, slow_grad, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("factor", [2, 3])
def test_nearest_upsampling_by_an_integer_factor_keeps_memory_order(rng, factor):
    x = _in_chwn(rng.standard_normal((4, 3, 5, 6)).astype(np.float32))
    grad = rng.standard_normal((4, 3, 5 * factor, 6 * factor)).astype(np.float32)

    def upsample(x):
        return ember.nn.functional.interpolate(x, scale_factor=factor, mode="nearest")

    fast_y, (fast_grad,) = _run(upsample, [x], grad, True)
    slow_y, (slow_grad,) = _run(upsample, [x], grad, False)
    assert memory_order(fast_y) == CHWN
    np.testing.assert_array_equal(fast_y, slow_y)
    np.testing.assert_allclose(fast_grad, slow_grad, rtol=1e-6, atol=1e-6)  # sums of 2 agree exactly


def test_group_norm_float32_statistics_hold_far_from_zero(kernels, rng):
    """The float32 kernel sums x and x*x in one pass (in double): a mean 1e4 standard deviations from zero
    still normalises to within 1e-3 of float64 (the float32 reference path: 4e-3)."""
    x = _in_chwn((rng.standard_normal((8, 16, 6, 6)) * 0.01 + 100).astype(np.float32))
    grouped = x.reshape(8, 4, -1).astype(np.float64)
    exact = (grouped - grouped.mean(2, keepdims=True)) / np.sqrt(grouped.var(2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ember.group_norm(ember.tensor(x), 4).numpy(), exact.reshape(x.shape), atol=1e-3)


@pytest.mark.parametrize("layout", ["nchw", "chwn"])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shifted", [False, True])
def test_group_norm_silu_fast_paths_run_and_give_group_norm_then_silu(kernels, rng, layout, affine, dtype,
                                                                      shifted):
    """One node, the numbers of group norm's and SiLU's fast paths one after the other (bit for bit; with a
    shift, after the add, the shift's gradient summed in another order), and within rounding of the
    reference; its output in the convolutions' order. float64: group norm's kernel and SiLU's NumPy
    passes."""
    x = (rng.standard_normal((6, 12, 5, 4)) * 3 + 1).astype(dtype)
    x = _in_chwn(x) if layout == "chwn" else x
    params = [rng.standard_normal(12).astype(dtype) for _ in range({"both": 2, "weight": 1, "none": 0}[affine])]
    shifts = [rng.standard_normal((6, 12)).astype(dtype)] if shifted else []
    grad = rng.standard_normal(x.shape).astype(dtype)
    config.set(parallel_numbers=1, num_threads=2)

    def fused(x, *others):
        return group_norm_silu(x, 3, *others[:len(params)], shift=others[-1] if shifted else None)

    def separate(x, *others):
        shifted_x = x + others[-1][:, :, None, None] if shifted else x
        return ember.silu(ember.group_norm(shifted_x, 3, *others[:len(params)]))

    fast_y, fast_grads = _run(fused, [x, *params, *shifts], grad, True)
    assert config.paths()["GroupNormSiLU.forward"] == "forward_compiled"
    assert config.paths()["GroupNormSiLU.backward"] == "backward_arrays"
    separate_y, separate_grads = _run(separate, [x, *params, *shifts], grad, True)
    slow_y, slow_grads = _run(fused, [x, *params, *shifts], grad, False)
    assert config.paths()["GroupNormSiLU.forward"] == "forward"
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fast_y, separate_y)
    np.testing.assert_allclose(fast_y, slow_y, **tolerance)
    for index, (fast, together, slow) in enumerate(zip(fast_grads, separate_grads, slow_grads)):
        if shifted and index == len(fast_grads) - 1:
            np.testing.assert_allclose(fast, together, **tolerance)
        else:
            np.testing.assert_array_equal(fast, together)
        np.testing.assert_allclose(fast, slow, **tolerance)
    assert memory_order(fast_y) == CHWN and fast_y.dtype == dtype


def test_group_norm_silu_checks_its_arguments():
    with pytest.raises(ValueError, match="group_norm_silu: expected num_groups dividing"):
        group_norm_silu(ember.zeros(2, 6, 3, 3), 4)
    with pytest.raises(ValueError, match=r"group_norm_silu: expected shift of shape \(N, C\) = \(2, 6\)"):
        group_norm_silu(ember.zeros(2, 6, 3, 3), 3, shift=ember.zeros(6))  # no broadcasting
    with pytest.raises(TypeError, match="group_norm_silu: shift has dtype float64"):
        group_norm_silu(ember.zeros(2, 6, 3, 3), 3, shift=ember.zeros(2, 6, dtype=ember.float64))


def test_group_norm_silu_keeps_no_normalised_copy_of_an_input_in_the_convolutions_order(kernels, rng):
    """On (C, H, W, N) memory the forward pass keeps the mean, not x_hat; on C order it keeps x_hat. The
    backward pass gives the same numbers either way (x_hat recomputed as the forward pass computed it)."""
    values = (rng.standard_normal((5, 8, 4, 3)) * 2 + 1).astype(np.float32)
    params = [rng.standard_normal(8).astype(np.float32) for _ in range(2)]
    grad = rng.standard_normal(values.shape).astype(np.float32)
    results = []
    for x, keeps_x_hat in ((_in_chwn(values), False), (values, True)):
        tensors = [ember.tensor(a, requires_grad=True) for a in (x, *params)]
        y = group_norm_silu(tensors[0], 2, *tensors[1:])
        x_hat, mean = y.creator.saved_arrays[3], y.creator.saved_arrays[5]
        assert (x_hat is not None, mean is None) == (keeps_x_hat, keeps_x_hat)
        y.backward(ember.tensor(grad))
        results.append([y.numpy()] + [t.grad.numpy() for t in tensors])
    for chwn_result, c_order_result in zip(*results):
        np.testing.assert_allclose(chwn_result, c_order_result, rtol=1e-5, atol=1e-5)


def test_group_norm_silu_takes_a_batch_of_one_between_convolutions(kernels, rng):
    # for one sample, (C, H, W, N) memory puts a stride on the batch axis of length one that NumPy's copies and
    # reshapes do not share: the input, its gradient from the next convolution and the kernels' views all
    # have to be taken alike
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    first, second = (rng.standard_normal((8, c, 3, 3)).astype(np.float32) for c in (4, 8))
    shift = rng.standard_normal((1, 8)).astype(np.float32)
    grad = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)

    def block(x, first, second, shift):
        h = group_norm_silu(ember.conv2d(x, first, padding=1), 2, shift=shift)
        return ember.conv2d(group_norm_silu(h, 4), second, padding=1)

    fast_y, fast_grads = _run(block, [x, first, second, shift], grad, True)
    slow_y, slow_grads = _run(block, [x, first, second, shift], grad, False)
    np.testing.assert_allclose(fast_y, slow_y, rtol=1e-4, atol=1e-4)
    for fast, slow in zip(fast_grads, slow_grads):
        np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-4)
