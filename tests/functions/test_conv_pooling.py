"""conv2d/conv1d and pooling beyond the op table: errors, output shapes, indices, larger sizes against NumPy
references (forward and gradients), memory layouts, and derivatives of the backward passes themselves."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.functions import conv as conv_module

from .cases_conv import reference_conv2d, reference_padding
from .cases_pooling import reference_adaptive_avg_pool2d, reference_avg_pool2d, reference_max_pool2d

F32_TOL = dict(rtol=1e-4, atol=1e-4)
pytestmark = pytest.mark.usefixtures("cpu_kernels")  # every test on both the compiled and the NumPy kernels


def _tensor(array, requires_grad=False, dtype=np.float32):
    return ember.tensor(np.asarray(array, dtype=dtype), requires_grad=requires_grad)


# -------------------------------------------------------------------------------------------- errors
def _raises(error, match, function, *args, **kwargs):
    with pytest.raises(error, match=match):
        function(*args, **kwargs)


def test_conv2d_channel_mismatch_names_weight_groups_and_input_shape():
    x, w = ember.zeros(8, 1, 28, 28), ember.zeros(16, 3, 3, 3)
    message = (r"conv2d: expected input with 3 channels \(weight \(16, 3, 3, 3\), groups=1\), "
               r"received shape \(8, 1, 28, 28\)")
    _raises(ValueError, message, ember.conv2d, x, w)


# (input shape, weight shape, options, message pattern); every one a ValueError
CONV2D_ERRORS = [
    ((2, 3, 5), (4, 3, 3, 3), {}, r"conv2d: expected input with 3 channels .*received shape \(2, 3, 5\)"),
    ((3, 5), (4, 3, 3, 3), {},
     r"conv2d: expected a 3-d \(C, H, W\) or 4-d \(N, C, H, W\) input, received shape \(3, 5\)"),
    ((1, 2, 3, 5, 5), (4, 3, 3, 3), {}, r"conv2d: expected a 3-d .* received shape \(1, 2, 3, 5, 5\)"),
    ((1, 3, 5, 5), (4, 3, 3), {}, r"conv2d: expected a 4-d weight .* received shape \(4, 3, 3\)"),
    ((1, 3, 2, 2), (4, 3, 3, 3), {},
     r"conv2d: kernel \(3, 3\) with dilation \(1, 1\) does not fit .* \(1, 3, 2, 2\)"),
    ((1, 3, 4, 4), (4, 3, 3, 3), {"dilation": 2}, r"conv2d: kernel \(3, 3\) with dilation \(2, 2\) does not fit"),
    ((1, 4, 5, 5), (6, 2, 3, 3), {"groups": 4}, r"conv2d: out_channels 6 .* divisible by groups=4"),
    ((1, 4, 5, 5), (6, 2, 3, 3), {"groups": 3},
     r"conv2d: expected input with 6 channels \(weight \(6, 2, 3, 3\), groups=3\), received shape \(1, 4, 5, 5\)"),
    ((1, 3, 5, 5), (4, 3, 0, 3), {}, r"conv2d: expected a weight with non-empty input-channel and kernel dims"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"groups": 0}, r"conv2d: groups must be a positive int, received 0"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"stride": 0}, r"conv2d: stride must be >= 1, received 0"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"padding": -1}, r"conv2d: padding must be >= 0"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"padding": (1, 2, 3)}, r"conv2d: padding must be an int or a sequence of 2 ints"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"padding": "full"},
     r"conv2d: padding must be an int, a tuple, 'valid' or 'same', received 'full'"),
    ((1, 3, 5, 5), (4, 3, 3, 3), {"padding": "same", "stride": 2},
     r"conv2d: padding='same' is not supported for strided"),
]


@pytest.mark.parametrize("x_shape, w_shape, options, match", CONV2D_ERRORS)
def test_conv2d_errors(x_shape, w_shape, options, match):
    _raises(ValueError, match, ember.conv2d, ember.zeros(*x_shape), ember.zeros(*w_shape), **options)


def test_conv2d_bias_dtype_and_type_errors():
    x, w = ember.zeros(1, 3, 5, 5), ember.zeros(4, 3, 3, 3)
    _raises(ValueError, r"conv2d: expected bias of shape \(4,\), received shape \(3,\)",
            ember.conv2d, x, w, ember.zeros(3))
    _raises(TypeError, r"conv2d: expected floating input, weight and bias of one dtype, received input float32, "
            r"weight float64", ember.conv2d, x, w.double())
    _raises(TypeError, r"conv2d: expected floating .* received input int64", ember.conv2d, x.long(), w)
    _raises(TypeError, r"conv2d: weight must be a Tensor, received ndarray", ember.conv2d, x, np.zeros((4, 3, 3, 3)))


def test_conv1d_errors_name_conv1d_and_user_shapes():
    _raises(ValueError,
            r"conv1d: expected input with 3 channels \(weight \(4, 3, 2\), groups=1\), received shape \(2, 5, 7\)",
            ember.conv1d, ember.zeros(2, 5, 7), ember.zeros(4, 3, 2))
    _raises(ValueError, r"conv1d: expected a 2-d \(C, L\) or 3-d \(N, C, L\) input",
            ember.conv1d, ember.zeros(5), ember.zeros(4, 3, 2))


# (function, input shape, positional arguments, keyword arguments, message pattern); every one a ValueError
POOLING_ERRORS = [
    (ember.max_pool2d, (4, 4), (2,), {},
     r"max_pool2d: expected a 3-d \(C, H, W\) or 4-d \(N, C, H, W\) input, received shape \(4, 4\)"),
    (ember.max_pool2d, (1, 1, 4, 4), (2,), {"padding": 2}, r"max_pool2d: padding should be at most half of kernel"),
    (ember.max_pool2d, (1, 1, 2, 2), (3,), {},
     r"max_pool2d: input of shape \(1, 1, 2, 2\) is too small for kernel_size \(3, 3\)"),
    (ember.max_pool2d, (1, 1, 4, 4), (0,), {}, r"max_pool2d: kernel_size must be >= 1"),
    (ember.max_pool2d, (1, 1, 4, 4), ((2, 2, 2),), {}, r"max_pool2d: kernel_size must be an int or a pair"),
    (ember.avg_pool2d, (1, 1, 4, 4), (2,), {"stride": 0}, r"avg_pool2d: stride must be >= 1"),
    (ember.avg_pool2d, (1, 1, 4, 4), (2,), {"divisor_override": 0},
     r"avg_pool2d: divisor_override must be a non-zero int"),
    (ember.avg_pool2d, (1, 0, 4, 4), (2,), {},
     r"avg_pool2d: expected non-empty channel and spatial dims, received shape \(1, 0, 4, 4\)"),
    (ember.adaptive_avg_pool2d, (1, 1, 4, 4), (0,), {},
     r"adaptive_avg_pool2d: output_size must hold positive ints or None"),
    (ember.adaptive_avg_pool2d, (1, 1, 4, 4), ((1, 2, 3),), {},
     r"adaptive_avg_pool2d: output_size must be an int or a pair"),
]


@pytest.mark.parametrize("function, shape, args, kwargs, match", POOLING_ERRORS)
def test_pooling_errors(function, shape, args, kwargs, match):
    _raises(ValueError, match, function, ember.zeros(*shape), *args, **kwargs)


def test_pooling_rejects_integer_input():
    _raises(TypeError, r"max_pool2d: expected a floating input, received dtype int64", ember.max_pool2d,
            ember.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)


# ------------------------------------------------------------------------------------- output shapes
def _torch_conv_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize("size, kernel, stride, padding, dilation", [
    (28, 5, 1, 0, 1), (28, 5, 2, 2, 1), (28, 3, 1, 1, 1), (17, 4, 3, 1, 2), (9, 1, 2, 0, 1), (10, 3, 3, 2, 3),
])
def test_conv2d_output_shape_follows_pytorch_formula(size, kernel, stride, padding, dilation):
    x = ember.zeros(2, 3, size, size + 1)
    w = ember.zeros(5, 3, kernel, kernel)
    y = ember.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    assert y.shape == (2, 5, _torch_conv_size(size, kernel, stride, padding, dilation),
                       _torch_conv_size(size + 1, kernel, stride, padding, dilation))


@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_conv2d_same_padding_keeps_size(kernel, dilation):
    y = ember.conv2d(ember.zeros(1, 2, 9, 8), ember.zeros(3, 2, kernel, kernel), padding="same", dilation=dilation)
    assert y.shape == (1, 3, 9, 8)


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, ceil_mode, expected", [
    (28, 2, 2, 0, 1, False, 14), (7, 2, 2, 0, 1, False, 3), (7, 2, 2, 0, 1, True, 4), (6, 3, 2, 1, 1, True, 4),
    (5, 2, 2, 1, 1, True, 3),  # the would-be 4th window starts in the right padding: dropped
    (10, 3, 1, 0, 2, False, 6), (13, 3, 3, 1, 1, False, 5), (13, 3, 3, 1, 1, True, 5),
])
def test_pooling_output_shape(size, kernel, stride, padding, dilation, ceil_mode, expected):
    x = ember.zeros(2, 3, size, size)
    y = ember.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
    assert y.shape == (2, 3, expected, expected)
    if dilation == 1:
        assert ember.avg_pool2d(x, kernel, stride, padding, ceil_mode).shape == (2, 3, expected, expected)


def test_pooling_stride_defaults_to_kernel():
    x = ember.zeros(1, 1, 12, 12)
    assert ember.max_pool2d(x, 3).shape == (1, 1, 4, 4)
    assert ember.max_pool2d(x, (3, 2), stride=[]).shape == (1, 1, 4, 6)
    assert ember.avg_pool2d(x, (2, 4)).shape == (1, 1, 6, 3)


# ---------------------------------------------------------------------------------- max pool indices
def test_max_pool2d_values_and_indices_by_hand():
    x = _tensor(np.arange(16).reshape(1, 1, 4, 4))
    y, indices = ember.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(indices.numpy(), [[[[5, 7], [13, 15]]]])
    assert indices.dtype == np.int64 and not indices.requires_grad


def test_max_pool2d_indices_with_padding_point_into_the_unpadded_input():
    x = _tensor([[[[1.0, 9.0, 2.0], [3.0, 4.0, 8.0], [7.0, 5.0, 6.0]]]])
    y, indices = ember.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), [[[[1, 9], [7, 8]]]])
    np.testing.assert_array_equal(indices.numpy(), [[[[0, 1], [6, 5]]]])


def test_max_pool2d_ties_pick_the_first_maximum_and_route_the_gradient_there():
    x = ember.ones(1, 1, 4, 4, requires_grad=True)
    y, indices = ember.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), [[[[0, 2], [8, 10]]]])
    y.sum().backward()
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool2d_all_minus_inf_window_points_at_its_first_real_input():
    x = ember.full((1, 1, 3, 3), -np.inf, requires_grad=True)
    y, indices = ember.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 2), -np.inf))
    np.testing.assert_array_equal(indices.numpy(), [[[[0, 1], [3, 4]]]])
    y.backward(ember.ones(1, 1, 2, 2))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pool2d_propagates_nan_and_points_at_the_last_nan():
    data = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    data[0, 0, 0, 0] = data[0, 0, 1, 0] = np.nan
    y, indices = ember.max_pool2d(_tensor(data), 2, return_indices=True)
    assert np.isnan(y.numpy()[0, 0, 0, 0]) and not np.isnan(y.numpy()[0, 0, 1:, 1:]).any()
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[4, 7], [13, 15]])


def test_max_pool2d_unbatched_indices_and_backward():
    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 6, 6)).astype(np.float32), requires_grad=True)
    y, indices = ember.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    ref_y, ref_indices = reference_max_pool2d(x.numpy(), 3, 2, 1, return_indices=True)
    assert y.shape == indices.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.numpy(), ref_y)
    np.testing.assert_array_equal(indices.numpy(), ref_indices)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), _scatter_to_indices(np.ones(ref_y.shape), ref_indices, x.shape))


def _scatter_to_indices(grad, indices, shape):
    """Reference max-pool gradient: each value summed onto its (plane, flat index) position."""
    planes = int(np.prod(shape[:-2]))
    plane_size = shape[-2] * shape[-1]
    flat = indices.reshape(planes, -1) + np.arange(planes)[:, None] * plane_size
    return np.bincount(flat.ravel(), weights=grad.ravel(), minlength=planes * plane_size).reshape(shape)


# --------------------------------------------------------------------------- larger sizes vs reference
def reference_conv2d_grads(x, weight, grad, stride, padding, dilation, groups):
    """Gradients of sum(conv2d(x, weight) * grad) wrt x and weight, one output position at a time."""
    sh, sw = stride
    dh, dw = dilation
    batch, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    (top, bottom), (left, right) = reference_padding(padding, (kh, kw), (dh, dw))
    padded = np.zeros((batch, channels, height + top + bottom, width + left + right))
    padded[:, :, top:top + height, left:left + width] = x
    grad_padded = np.zeros_like(padded)
    grad_weight = np.zeros(weight.shape)
    per_group = out_channels // groups
    for g in range(groups):
        in_slice = slice(g * group_channels, (g + 1) * group_channels)
        out_slice = slice(g * per_group, (g + 1) * per_group)
        for i in range(grad.shape[2]):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            for j in range(grad.shape[3]):
                cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                g_ij = grad[:, out_slice, i, j]
                grad_weight[out_slice] += np.einsum("no,nchw->ochw", g_ij, padded[:, in_slice, rows, cols])
                grad_padded[:, in_slice, rows, cols] += np.einsum("no,ochw->nchw", g_ij, weight[out_slice])
    return grad_padded[:, :, top:top + height, left:left + width], grad_weight


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", [
    ((4, 6, 20, 18), (8, 3, 5, 3), (2, 1), (2, 1), (1, 2), 2),
    ((3, 5, 16, 16), (7, 5, 3, 3), (1, 1), "same", (1, 1), 1),
    ((2, 6, 15, 17), (6, 1, 4, 4), (3, 2), (1, 1), (2, 1), 6),
    ((5, 3, 12, 12), (4, 3, 6, 6), (1, 1), "same", (1, 1), 1),
])
def test_conv2d_larger_sizes_forward_and_gradients_match_reference(x_shape, w_shape, stride, padding, dilation,
                                                                   groups):
    rng = np.random.default_rng(3)
    x_np, w_np, b_np = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    x, w, b = _tensor(x_np, True), _tensor(w_np, True), _tensor(b_np, True)
    y = ember.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = reference_conv2d(x_np, w_np, b_np, stride, padding, dilation, groups)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, **F32_TOL)
    grad_np = rng.standard_normal(expected.shape)
    y.backward(_tensor(grad_np))
    grad_x, grad_w = reference_conv2d_grads(x_np, w_np, grad_np, stride, padding, dilation, groups)
    for tensor, reference in ((x, grad_x), (w, grad_w), (b, grad_np.sum(axis=(0, 2, 3)))):
        assert tensor.grad.dtype == np.float32
        np.testing.assert_allclose(tensor.grad.numpy(), reference, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("groups, stride, padding, dilation", [
    (1, (2, 2), (1, 1), (1, 1)), (2, (1, 1), (2, 1), (2, 1)), (1, (1, 3), (0, 0), (1, 1)),
])
def test_conv2d_in_bands_matches_one_band(monkeypatch, cpu_kernels, groups, stride, padding, dilation):
    """Bands of output rows (down to one row each) give the results and gradients of a single band, and the
    im2col matrix is kept for backward only when it fits in one band."""
    if cpu_kernels == "direct":
        pytest.skip("the direct convolutions build no im2col bands and split the weight gradient's between threads")
    rng = np.random.default_rng(4)
    x_np, w_np = rng.standard_normal((2, 4, 9, 9)), rng.standard_normal((6, 4 // groups, 3, 3))
    b_np, g_np = rng.standard_normal(6), None
    column_calls = []
    original_columns = conv_module.columns

    def counting_columns(*args, **kwargs):
        column_calls.append(args[5])
        return original_columns(*args, **kwargs)

    monkeypatch.setattr(conv_module, "columns", counting_columns)
    results = []
    for out_rows_per_band in (None, 1, 3):
        row_bytes = 4 * 9 * 2 * 4 * (results[0][0].shape[3] if results else 1)  # C*kh*kw * Wo * N * float32
        band_bytes = 2**30 if out_rows_per_band is None else row_bytes * out_rows_per_band
        ember.config.set(conv_band_bytes=band_bytes)  # restored after the test (conftest)
        column_calls.clear()
        x, w, b = _tensor(x_np, True), _tensor(w_np, True), _tensor(b_np, True)
        y = ember.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if g_np is None:
            g_np = rng.standard_normal(y.shape)
        y.backward(_tensor(g_np))
        out_h = y.shape[2]
        if out_rows_per_band is None:
            assert column_calls == [(0, out_h)]  # one band, kept for the weight gradient
        else:
            starts = list(range(0, out_h, out_rows_per_band))
            assert [rows[0] for rows in column_calls] == starts + starts  # forward, then rebuilt in backward
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    expected = reference_conv2d(x_np, w_np, b_np, stride, padding, dilation, groups)
    np.testing.assert_allclose(results[0][0], expected, **F32_TOL)
    grad_x, grad_w = reference_conv2d_grads(x_np, w_np, g_np, stride, padding, dilation, groups)
    np.testing.assert_allclose(results[0][1], grad_x, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(results[0][2], grad_w, rtol=1e-4, atol=1e-3)
    for banded in results[1:]:
        for got, want in zip(banded, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv2d_only_computes_requested_gradients():
    x, w = ember.randn(2, 3, 6, 6), ember.randn(4, 3, 3, 3, requires_grad=True)
    ember.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)
    x, w = ember.randn(2, 3, 6, 6, requires_grad=True), ember.randn(4, 3, 3, 3)
    ember.conv2d(x, w).sum().backward()
    assert w.grad is None and x.grad.shape == (2, 3, 6, 6)


def test_conv2d_empty_batch():
    x, w = ember.zeros(0, 3, 7, 7, requires_grad=True), ember.randn(4, 3, 3, 3, requires_grad=True)
    y = ember.conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 7, 7)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 7, 7)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3, 3, 3)))


@pytest.mark.parametrize("layout", ["channels_major", "flipped", "sliced"])
def test_conv_and_pools_accept_any_memory_layout(layout):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((3, 4, 10, 11)).astype(np.float32)
    if layout == "channels_major":
        data = np.ascontiguousarray(base.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    elif layout == "flipped":
        data = np.ascontiguousarray(base[:, :, ::-1])[:, :, ::-1]
    else:
        data = np.zeros((3, 8, 10, 22), dtype=np.float32)[:, ::2, :, ::2]
        data[...] = base
    np.testing.assert_array_equal(data, base)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    results = []
    for array in (base, data):
        x = ember.tensor(array, requires_grad=True)
        outputs = [ember.conv2d(x, ember.tensor(w), padding=1), ember.conv2d(x, ember.tensor(w), stride=2),
                   ember.max_pool2d(x, 3, 2, 1), ember.max_pool2d(x, 2), ember.avg_pool2d(x, 2, 1, 1),
                   ember.avg_pool2d(x, 2), ember.adaptive_avg_pool2d(x, (3, 4))]
        total = sum((out * out).sum() for out in outputs)
        total.backward()
        results.append([out.numpy() for out in outputs] + [x.grad.numpy()])
    for got, expected in zip(results[1], results[0]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=(3, 2), stride=2, padding=(1, 0), ceil_mode=True), dict(kernel_size=3, dilation=2, stride=2),
])
def test_max_pool2d_larger_sizes_forward_and_gradient(options):
    rng = np.random.default_rng(6)
    x_np = rng.standard_normal((4, 5, 19, 16))
    x = _tensor(x_np, True)
    y, indices = ember.max_pool2d(x, **options, return_indices=True)
    ref_y, ref_indices = reference_max_pool2d(x_np.astype(np.float32), **options, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ref_y)
    np.testing.assert_array_equal(indices.numpy(), ref_indices)
    grad_np = rng.standard_normal(ref_y.shape).astype(np.float32)
    y.backward(_tensor(grad_np))
    expected = _scatter_to_indices(grad_np, ref_indices, x_np.shape)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-6)


def reference_avg_pool2d_grad(shape, grad, kernel_size, stride=None, padding=0, ceil_mode=False,
                              count_include_pad=True, divisor_override=None):
    """The gradient of sum(avg_pool2d(x) * grad): each input's weight in every window, read off the reference
    forward by probing it with the unit basis (the pool is linear)."""
    size = int(np.prod(shape[2:]))
    probes = np.eye(size).reshape((size, 1) + tuple(shape[2:]))
    responses = reference_avg_pool2d(probes, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override)[:, 0]
    return np.einsum("pij,ncij->ncp", responses, grad).reshape(shape)


@pytest.mark.parametrize("options", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 4), stride=(3, 2), divisor_override=5),
])
def test_avg_pool2d_larger_sizes_forward_and_gradient(options):
    rng = np.random.default_rng(7)
    x_np = rng.standard_normal((4, 5, 15, 14))
    x = _tensor(x_np, True)
    y = ember.avg_pool2d(x, **options)
    expected = reference_avg_pool2d(x_np, **options)
    np.testing.assert_allclose(y.numpy(), expected, **F32_TOL)
    grad_np = rng.standard_normal(expected.shape)
    y.backward(_tensor(grad_np))
    np.testing.assert_allclose(x.grad.numpy(), reference_avg_pool2d_grad(x_np.shape, grad_np, **options), **F32_TOL)


@pytest.mark.parametrize("output_size", [1, 7, (5, 3), (None, 4)])
def test_adaptive_avg_pool2d_larger_sizes(output_size):
    rng = np.random.default_rng(8)
    x_np = rng.standard_normal((8, 6, 23, 17))
    x = _tensor(x_np, True)
    y = ember.adaptive_avg_pool2d(x, output_size)
    expected = reference_adaptive_avg_pool2d(x_np, output_size)
    np.testing.assert_allclose(y.numpy(), expected, **F32_TOL)
    assert y.dtype == np.float32
    y.sum().backward()
    # the gradient of the sum is each input's total weight over the bins containing it: probe the (linear)
    # reference with every unit image at once
    plane_size = 23 * 17
    probes = np.eye(plane_size).reshape(plane_size, 1, 23, 17)
    weight = reference_adaptive_avg_pool2d(probes, output_size).sum(axis=(1, 2, 3)).reshape(23, 17)
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(weight, x_np.shape), **F32_TOL)


# ------------------------------------------------------------- derivatives of the backward passes
def _vjp(function, inputs, grad_output):
    """The vector-Jacobian product as a function that is itself differentiated, cotangent included.

    The cotangent enters through an op (``* 1.0``) because ``ember.grad`` detaches leaf ``grad_outputs``.
    """
    return ember.grad(function(*inputs), inputs, grad_output * 1.0, create_graph=True)


@pytest.mark.parametrize("options", [
    dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(groups=2, stride=(1, 2)),
])
def test_conv2d_backward_is_differentiable_in_inputs_and_cotangent(options):
    rng = np.random.default_rng(9)
    x = _tensor(rng.standard_normal((2, 4, 6, 5)), True, np.float64)
    w = _tensor(rng.standard_normal((4, 4 // options.get("groups", 1), 3, 2)), True, np.float64)
    out_shape = ember.conv2d(x, w, **options).shape
    grad_output = _tensor(rng.standard_normal(out_shape), True, np.float64)

    def first_derivatives(x, w, grad_output):
        return _vjp(lambda x, w: ember.conv2d(x, w, **options), (x, w), grad_output)

    assert gradcheck(first_derivatives, [x, w, grad_output])


@pytest.mark.parametrize("pool, options", [
    (ember.max_pool2d, dict(kernel_size=2)),
    (ember.max_pool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (ember.avg_pool2d, dict(kernel_size=2)),
    (ember.avg_pool2d, dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    (ember.adaptive_avg_pool2d, dict(output_size=(3, 2))),
])
def test_pool_backward_is_differentiable_in_input_and_cotangent(pool, options):
    rng = np.random.default_rng(10)
    x = _tensor(rng.standard_normal((2, 2, 7, 6)), True, np.float64)
    grad_output = _tensor(rng.standard_normal(pool(x, **options).shape), True, np.float64)

    def first_derivative(x, grad_output):
        return _vjp(lambda x: pool(x, **options), (x,), grad_output)

    assert gradcheck(first_derivative, [x, grad_output])


def test_conv2d_third_order_gradient_matches_reference():
    # f(w) = sum(conv2d(x, w)^3): d^3 f / dw^3 contracted with ones is 6 * sum over windows of (sum of patch)^3
    rng = np.random.default_rng(11)
    x_np = rng.standard_normal((1, 1, 4, 4))
    x, w = _tensor(x_np, dtype=np.float64), _tensor(np.full((1, 1, 2, 2), 0.5), True, np.float64)
    y = ember.conv2d(x, w)
    (g1,) = ember.grad((y * y * y).sum(), w, create_graph=True)
    (g2,) = ember.grad(g1.sum(), w, create_graph=True)
    (g3,) = ember.grad(g2.sum(), w)
    patches = np.stack([x_np[0, 0, i:i + 2, j:j + 2] for i in range(3) for j in range(3)])
    expected = 6 * np.einsum("p,pij->ij", patches.sum(axis=(1, 2)) ** 2, patches)
    np.testing.assert_allclose(g3.numpy()[0, 0], expected, rtol=1e-10)


def test_conv2d_asymmetric_padding_pairs_match_explicit_pad():
    rng = np.random.default_rng(11)
    x_np, w_np = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 4, 3))
    grads = []
    for asymmetric in (True, False):
        x, w = _tensor(x_np, True), _tensor(w_np, True)
        if asymmetric:
            y = ember.conv2d(x, w, stride=2, padding=((1, 2), (0, 1)))
        else:
            y = ember.conv2d(ember.nn.functional.pad(x, (0, 1, 1, 2)), w, stride=2)
        y.backward(_tensor(np.cos(np.arange(np.prod(y.shape))).reshape(y.shape)))
        grads.append((y.numpy(), x.grad.numpy(), w.grad.numpy()))
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"conv2d: expected 2 \(before, after\) padding pairs"):
        ember.conv2d(_tensor(x_np), _tensor(w_np), padding=((1, 2),))
    with pytest.raises(ValueError, match="conv2d: padding must be >= 0"):
        ember.conv2d(_tensor(x_np), _tensor(w_np), padding=((1, -1), (0, 0)))
