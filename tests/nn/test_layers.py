"""Layer modules: output shapes, values against NumPy, default initialisation, train/eval behaviour, errors."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import ember
import ember.nn as nn


def as_float64(tensor):
    return tensor.array.astype(np.float64)


# ---------------------------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_matches_numpy(shape):
    layer = nn.Linear(4, 3)
    x = ember.randn(*shape)
    y = layer(x)
    assert y.shape == shape[:-1] + (3,) and y.dtype == np.float32
    expected = as_float64(x) @ as_float64(layer.weight).T + as_float64(layer.bias)
    np.testing.assert_allclose(y.array, expected, rtol=1e-5, atol=1e-6)


def test_linear_without_bias_and_repr():
    layer = nn.Linear(4, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = ember.randn(3, 4)
    np.testing.assert_allclose(layer(x).array, x.array @ layer.weight.array.T, rtol=1e-5, atol=1e-6)
    assert repr(layer) == "Linear(in_features=4, out_features=2, bias=False)"


def test_linear_default_init_statistics():
    layer = nn.Linear(1000, 500)
    bound = 1 / math.sqrt(1000)
    assert layer.weight.shape == (500, 1000) and layer.weight.dtype == np.float32
    assert np.abs(layer.weight.array).max() <= bound
    assert np.abs(layer.weight.array).max() > 0.99 * bound
    assert layer.weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert np.abs(layer.bias.array).max() <= bound
    assert layer.bias.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


def test_linear_reset_parameters_redraws_and_dtype_option():
    layer = nn.Linear(3, 2, dtype=ember.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    before = layer.weight.array.copy()
    layer.reset_parameters()
    assert not np.array_equal(before, layer.weight.array)


def test_linear_rejects_wrong_input_width():
    with pytest.raises(ValueError, match=r"Linear\(in_features=4\): expected input with last dimension 4, "
                                         r"received shape \(2, 5\)"):
        nn.Linear(4, 3)(ember.randn(2, 5))
    with pytest.raises(ValueError, match="in_features >= 0"):
        nn.Linear(-1, 3)


# ---------------------------------------------------------------------------------------------- Conv2d
def conv2d_reference(x, w, b, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    out_channels, group_channels, kh, kw = w.shape
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    windows = sliding_window_view(x, span, axis=(2, 3))
    windows = windows[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    group_out = out_channels // groups
    outputs = [
        np.einsum("nchwij,ocij->nohw", windows[:, g * group_channels:(g + 1) * group_channels],
                  w[g * group_out:(g + 1) * group_out])
        for g in range(groups)
    ]
    y = np.concatenate(outputs, axis=1)
    return y if b is None else y + b[None, :, None, None]


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
        dict(padding=1, groups=2, bias=False),
    ],
)
def test_conv2d_matches_numpy(options):
    options = dict(options)
    bias = options.pop("bias", True)
    layer = nn.Conv2d(4, 6, 3, bias=bias, **options)
    x = ember.randn(2, 4, 9, 8)
    y = layer(x)
    expected = conv2d_reference(
        as_float64(x), as_float64(layer.weight), None if layer.bias is None else as_float64(layer.bias),
        layer.stride, layer.padding, layer.dilation, layer.groups,
    )
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.array, expected, rtol=1e-4, atol=1e-5)


def test_conv2d_output_shapes():
    x = ember.randn(2, 3, 28, 28)
    assert nn.Conv2d(3, 8, 5)(x).shape == (2, 8, 24, 24)
    assert nn.Conv2d(3, 8, 3, stride=2, padding=1)(x).shape == (2, 8, 14, 14)
    assert nn.Conv2d(3, 8, 4, padding="same")(x).shape == (2, 8, 28, 28)
    assert nn.Conv2d(3, 8, 3, padding="valid")(x).shape == (2, 8, 26, 26)
    assert nn.Conv2d(3, 8, 3)(ember.randn(3, 10, 10)).shape == (8, 8, 8)  # unbatched


def test_conv2d_same_padding_with_even_kernel_pads_bottom_right():
    layer = nn.Conv2d(2, 3, (2, 4), padding="same", bias=False)
    x = ember.randn(1, 2, 5, 6)
    padded = np.pad(as_float64(x), ((0, 0), (0, 0), (0, 1), (1, 2)))
    expected = conv2d_reference(padded, as_float64(layer.weight), None)
    np.testing.assert_allclose(layer(x).array, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_conv2d_padding_modes(mode, numpy_mode):
    layer = nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode)
    x = ember.randn(2, 2, 5, 6, requires_grad=True)
    padded = np.pad(as_float64(x), ((0, 0), (0, 0), (1, 1), (2, 2)), mode=numpy_mode)
    expected = conv2d_reference(padded, as_float64(layer.weight), as_float64(layer.bias))
    y = layer(x)
    np.testing.assert_allclose(y.array, expected, rtol=1e-4, atol=1e-5)
    y.sum().backward()
    assert x.grad.shape == x.shape
    assert repr(layer).endswith(f"padding=(1, 2), padding_mode={mode})")


def test_conv2d_default_init_bound():
    layer = nn.Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)
    assert layer.weight.shape == (64, 16, 3, 3)
    assert np.abs(layer.weight.array).max() <= bound
    assert layer.weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert np.abs(layer.bias.array).max() <= bound
    assert nn.Conv2d(4, 4, 3, groups=4).weight.shape == (4, 1, 3, 3)


def test_conv2d_repr():
    assert repr(nn.Conv2d(1, 32, 3)) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(4, 8, (3, 5), stride=2, padding=1, dilation=2, groups=2,
                          bias=False)) == (
        "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)"
    )
    assert repr(nn.Conv2d(1, 2, 3, padding="same")) == "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)"


def test_conv2d_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        nn.Conv2d(3, 6, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv2d\(3, 6\): expected input of shape \(N, 3, H, W\).*\(2, 4, 8, 8\)"):
        nn.Conv2d(3, 6, 3)(ember.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match="smaller than the input height"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(ember.randn(1, 1, 3, 8))


# --------------------------------------------------------------------------------------------- pooling
def pool_reference(x, size, stride, reduce):
    windows = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return reduce(windows, axis=(-2, -1))


def test_max_pool2d_values_and_shapes():
    x = ember.randn(2, 3, 8, 6)
    y = nn.MaxPool2d(2)(x)
    np.testing.assert_array_equal(y.array, pool_reference(x.array, 2, 2, np.max))
    assert nn.MaxPool2d(3, stride=2, padding=1)(x).shape == (2, 3, 4, 3)
    assert nn.MaxPool2d(3, stride=2, ceil_mode=True)(x).shape == (2, 3, 4, 3)
    assert nn.MaxPool2d(2)(ember.randn(3, 8, 6)).shape == (3, 4, 3)
    values, indices = nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(values.array, y.array)
    assert indices.shape == y.shape and indices.dtype == np.int64
    flat = x.array.reshape(2, 3, -1)
    picked = np.take_along_axis(flat, indices.array.reshape(2, 3, -1), axis=2)
    np.testing.assert_array_equal(picked, y.array.reshape(2, 3, -1))


def test_avg_pool2d_values_and_shapes():
    x = ember.randn(2, 3, 8, 6)
    y = nn.AvgPool2d(2)(x)
    np.testing.assert_allclose(y.array, pool_reference(x.array, 2, 2, np.mean), rtol=1e-6, atol=1e-6)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 8, 6)
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"


def test_adaptive_avg_pool2d():
    x = ember.randn(2, 3, 8, 6)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).array, x.array.mean(axis=(2, 3), keepdims=True), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d((4, 3))(x).array, pool_reference(x.array, 2, 2, np.mean),
                               rtol=1e-5, atol=1e-6)
    assert repr(nn.AdaptiveAvgPool2d((4, 3))) == "AdaptiveAvgPool2d(output_size=(4, 3))"


def test_pooling_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"MaxPool2d: expected a 3-d \(C, H, W\) or 4-d.*\(8, 6\)"):
        nn.MaxPool2d(2)(ember.randn(8, 6))


# ------------------------------------------------------------------------------------------- BatchNorm
def test_batchnorm2d_train_normalises_and_updates_running_stats():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = ember.randn(8, 3, 5, 5) * 3.0 + 2.0
    y = bn(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.array.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.array.var(axis=(0, 2, 3)), 1.0, atol=1e-3)
    data = as_float64(x)
    batch_mean = data.mean(axis=(0, 2, 3))
    batch_var = data.var(axis=(0, 2, 3), ddof=1)  # running_var uses the unbiased variance
    np.testing.assert_allclose(bn.running_mean.array, 0.8 * 0.0 + 0.2 * batch_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.array, 0.8 * 1.0 + 0.2 * batch_var, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1


def test_batchnorm2d_eval_uses_running_stats_and_does_not_update():
    bn = nn.BatchNorm2d(2)
    bn.running_mean.array[...] = [1.0, -1.0]
    bn.running_var.array[...] = [4.0, 0.25]
    bn.weight.array[...] = [2.0, 1.0]
    bn.bias.array[...] = [0.5, 0.0]
    bn.eval()
    x = ember.randn(3, 2, 4, 4)
    mean = np.array([1.0, -1.0])[None, :, None, None]
    var = np.array([4.0, 0.25])[None, :, None, None]
    expected = (as_float64(x) - mean) / np.sqrt(var + 1e-5) * np.array([2.0, 1.0])[None, :, None, None]
    expected += np.array([0.5, 0.0])[None, :, None, None]
    np.testing.assert_allclose(bn(x).array, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.array, [1.0, -1.0])
    assert int(bn.num_batches_tracked.item()) == 0


def test_batchnorm_momentum_none_is_cumulative_average():
    bn = nn.BatchNorm1d(4, momentum=None)
    batches = [ember.randn(16, 4) * (i + 1) + i for i in range(3)]
    for batch in batches:
        bn(batch)
    means = np.stack([as_float64(b).mean(axis=0) for b in batches])
    variances = np.stack([as_float64(b).var(axis=0, ddof=1) for b in batches])
    np.testing.assert_allclose(bn.running_mean.array, means.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.running_var.array, variances.mean(axis=0), rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    bn = nn.BatchNorm1d(3, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.buffers()) == []
    x = ember.randn(10, 3, 4) * 5.0
    y = bn(x)
    np.testing.assert_allclose(y.array.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.array.var(axis=(0, 2)), 1.0, atol=1e-3)


def test_batchnorm_affine_false_and_reset():
    bn = nn.BatchNorm2d(3, affine=False)
    assert bn.weight is None and list(bn.parameters()) == []
    bn(ember.randn(4, 3, 2, 2) + 5.0)
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_mean.array, 0.0)
    np.testing.assert_array_equal(bn.running_var.array, 1.0)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()


def test_batchnorm_input_checks_name_layer_and_shape():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected 4-d input \(N, C, H, W\), received shape "
                                         r"\(4, 3\)"):
        nn.BatchNorm2d(3)(ember.randn(4, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected 2-d or 3-d input"):
        nn.BatchNorm1d(3)(ember.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected 3 channels in dim 1, received shape \(2, 5, 4, 4\)"):
        nn.BatchNorm2d(3)(ember.randn(2, 5, 4, 4))


def test_train_eval_switch_batchnorm_and_dropout_inside_model():
    model = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.Dropout(0.5))
    x = ember.randn(32, 6)
    model.eval()
    first, second = model(x).array, model(x).array
    np.testing.assert_array_equal(first, second)  # no dropout, fixed statistics
    assert int(model[1].num_batches_tracked.item()) == 0
    model.train()
    assert not np.array_equal(model(x).array, model(x).array)
    assert int(model[1].num_batches_tracked.item()) == 2


# ------------------------------------------------------------------------------------------- LayerNorm
def test_layer_norm_matches_numpy():
    norm = nn.LayerNorm((4, 5))
    norm.weight.array[...] = ember.randn(4, 5).array
    norm.bias.array[...] = ember.randn(4, 5).array
    x = ember.randn(3, 4, 5)
    data = as_float64(x)
    mean = data.mean(axis=(1, 2), keepdims=True)
    var = data.var(axis=(1, 2), keepdims=True)
    expected = (data - mean) / np.sqrt(var + 1e-5) * as_float64(norm.weight) + as_float64(norm.bias)
    np.testing.assert_allclose(norm(x).array, expected, rtol=1e-4, atol=1e-5)
    assert repr(norm) == "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True)"


def test_layer_norm_options_and_errors():
    assert nn.LayerNorm(8).normalized_shape == (8,)
    no_affine = nn.LayerNorm(8, elementwise_affine=False)
    assert no_affine.weight is None and list(no_affine.parameters()) == []
    no_bias = nn.LayerNorm(8, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    x = ember.randn(2, 8)
    y = no_bias(x).array
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"LayerNorm\(\(8,\)\): expected input with trailing shape \(8,\), "
                                         r"received shape \(2, 7\)"):
        nn.LayerNorm(8)(ember.randn(2, 7))


# --------------------------------------------------------------------------------------------- Dropout
def test_dropout_train_and_eval():
    dropout = nn.Dropout(p=0.25)
    x = ember.ones(200, 100)
    y = dropout(x).array
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    dropout.eval()
    assert np.array_equal(dropout(x).array, x.array)
    assert repr(dropout) == "Dropout(p=0.25, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


def test_dropout2d_zeroes_whole_channels():
    dropout = nn.Dropout2d(p=0.5)
    y = dropout(ember.ones(16, 8, 3, 3)).array
    per_channel = y.reshape(16, 8, -1)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2))
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    dropout.eval()
    assert np.array_equal(dropout(ember.ones(2, 3, 2, 2)).array, np.ones((2, 3, 2, 2)))


# -------------------------------------------------------------------------------- Flatten and friends
def test_flatten_unflatten_identity():
    x = ember.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).array, x.array.reshape(2, 60))
    assert nn.Unflatten(1, (3, 20))(ember.randn(2, 60)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (2, -1))(ember.randn(2, 60)).shape == (2, 2, 30)
    assert nn.Identity(54, unused="x")(x) is x
    assert repr(nn.Unflatten(1, (1, 28, 28))) == "Unflatten(dim=1, unflattened_size=(1, 28, 28))"
    with pytest.raises(ValueError, match=r"cannot unflatten dim 1 of size 60.*into \(7, 8\)"):
        nn.Unflatten(1, (7, 8))(ember.randn(2, 60))
    with pytest.raises(TypeError, match="tuple or list"):
        nn.Unflatten(1, 60)


# ------------------------------------------------------------------------------------------- Embedding
def test_embedding_lookup_and_init():
    embedding = nn.Embedding(10, 4)
    assert embedding.weight.shape == (10, 4) and embedding.weight.dtype == np.float32
    indices = ember.tensor([[1, 2], [9, 1]])
    y = embedding(indices)
    assert y.shape == (2, 2, 4)
    np.testing.assert_array_equal(y.array, embedding.weight.array[indices.array])
    big = nn.Embedding(1000, 100)
    assert big.weight.array.mean() == pytest.approx(0.0, abs=0.01)
    assert big.weight.array.std() == pytest.approx(1.0, rel=0.01)


def test_embedding_gradient_accumulates_repeats_and_skips_padding():
    embedding = nn.Embedding(5, 3, padding_idx=0)
    np.testing.assert_array_equal(embedding.weight.array[0], 0.0)
    embedding.weight.array[0] = 7.0  # a padding row with values still receives no gradient
    indices = ember.tensor([[0, 1, 1], [2, 0, 1]])
    out = embedding(indices)
    np.testing.assert_array_equal(out.array[0, 0], 7.0)
    upstream = ember.randn(2, 3, 3)
    out.backward(upstream)
    grad = embedding.weight.grad.array
    np.testing.assert_array_equal(grad[0], 0.0)
    np.testing.assert_allclose(grad[1], upstream.array[0, 1] + upstream.array[0, 2] + upstream.array[1, 2], rtol=1e-6)
    np.testing.assert_allclose(grad[2], upstream.array[1, 0], rtol=1e-6)
    np.testing.assert_array_equal(grad[3:], 0.0)
    assert repr(embedding) == "Embedding(5, 3, padding_idx=0)"
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4


def test_embedding_errors_and_from_pretrained():
    embedding = nn.Embedding(4, 2)
    with pytest.raises(TypeError, match="integer indices"):
        embedding(ember.tensor([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"\[0, 4\), received min 0 max 4"):
        embedding(ember.tensor([0, 4]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    table = ember.randn(3, 2)
    pretrained = nn.Embedding.from_pretrained(table)
    assert not pretrained.weight.requires_grad and pretrained.weight.array is table.array
    np.testing.assert_array_equal(pretrained(ember.tensor([2])).array, table.array[[2]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


# ----------------------------------------------------------------------------------------- activations
ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (nn.GELU(), lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Softplus(beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    (nn.LogSoftmax(dim=0), lambda x: x - np.log(np.exp(x).sum(axis=0, keepdims=True))),
]


@pytest.mark.parametrize("module, reference", ACTIVATIONS, ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_activation_modules_match_numpy(module, reference):
    x = ember.randn(4, 5) * 3.0
    y = module(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y.array, reference(as_float64(x)), rtol=1e-4, atol=1e-5)


def test_activation_reprs():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(nn.Sigmoid()) == "Sigmoid()"
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")


def test_softmax_without_dim_follows_pytorch_legacy_rule():
    x = ember.randn(2, 3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(y.array.sum(axis=0), 1.0, rtol=1e-5)  # 3-d input: dim 0
    with pytest.warns(UserWarning):
        y = nn.LogSoftmax()(ember.randn(2, 3, 4, 5))
    np.testing.assert_allclose(np.exp(y.array).sum(axis=1), 1.0, rtol=1e-5)  # 4-d input: dim 1


def test_embedding_max_norm_renormalises_looked_up_rows():
    embedding = nn.Embedding(4, 3, max_norm=1.0)
    embedding.weight.array[...] = [[3.0, 4.0, 0.0], [0.1, 0.2, 0.2], [0.0, 0.0, 2.0], [6.0, 8.0, 0.0]]
    out = embedding(ember.tensor([0, 1, 0, 2]))
    norms = np.linalg.norm(embedding.weight.array, axis=1)
    np.testing.assert_allclose(norms[:3], [1.0, 0.3, 1.0], rtol=1e-5)
    assert norms[3] == pytest.approx(10.0)  # not looked up: unchanged
    np.testing.assert_allclose(out.array[0], [0.6, 0.8, 0.0], rtol=1e-5)
    l1 = nn.Embedding(2, 2, max_norm=1.0, norm_type=1.0)
    l1.weight.array[...] = [[1.0, -3.0], [0.2, 0.2]]
    l1(ember.tensor([0, 1]))
    np.testing.assert_allclose(l1.weight.array, [[0.25, -0.75], [0.2, 0.2]], rtol=1e-5)
    assert repr(l1) == "Embedding(2, 2, max_norm=1.0, norm_type=1.0)"


def test_embedding_scale_grad_by_freq():
    embedding = nn.Embedding(4, 2, scale_grad_by_freq=True)
    indices = ember.tensor([[1, 1, 2], [1, 3, 3]])
    out = embedding(indices)
    np.testing.assert_array_equal(out.array, embedding.weight.array[indices.array])
    upstream = ember.randn(2, 3, 2)
    out.backward(upstream)
    u = upstream.array
    expected = np.zeros((4, 2), dtype=np.float32)
    expected[1] = (u[0, 0] + u[0, 1] + u[1, 0]) / 3
    expected[2] = u[0, 2]
    expected[3] = (u[1, 1] + u[1, 2]) / 2
    np.testing.assert_allclose(embedding.weight.grad.array, expected, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------ PyTorch arguments without effect
INPLACE_MODULES = [nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Dropout, nn.Dropout2d]


@pytest.mark.parametrize("module_class", INPLACE_MODULES, ids=lambda cls: cls.__name__)
def test_inplace_true_warns_once_at_construction_and_leaves_the_input_alone(module_class):
    with pytest.warns(UserWarning, match=rf"{module_class.__name__}: inplace=True has no effect in Ember") as record:
        module = module_class(inplace=True)
    assert record[0].filename == __file__  # reported where the user wrote it
    assert "inplace=True" in repr(module)  # shown, as in PyTorch
    x = ember.randn(2, 3, 4, 4)
    before = x.numpy().copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = module.eval()(x)
        module_class(inplace=False)
    np.testing.assert_array_equal(y.numpy(), module_class().eval()(x).numpy())
    np.testing.assert_array_equal(x.numpy(), before)


def test_embedding_sparse_warns_that_gradients_stay_dense():
    with pytest.warns(UserWarning, match="Embedding: sparse=True has no effect in Ember"):
        table = nn.Embedding(5, 3, sparse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table(ember.tensor([1, 2, 1])).sum().backward()
        nn.Embedding(5, 3)
    np.testing.assert_array_equal(table.weight.grad.numpy()[1], [2.0, 2.0, 2.0])


def test_softmax_module_reports_the_implicit_dim_warning_at_the_caller():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax") as record:
        nn.Softmax()(ember.randn(2, 3))
    assert record[0].filename == __file__
