"""dropout, dropout1d/2d/3d and alpha_dropout: scaling, masks, reproducibility, gradients, errors."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck


def test_dropout_scales_kept_units_and_zeroes_the_rest():
    y = ember.dropout(ember.ones(200, 300), p=0.2)
    values = np.unique(y.numpy())
    np.testing.assert_allclose(values, [0.0, 1 / 0.8], rtol=1e-7)
    assert y.dtype == np.float32


def test_dropout_mask_is_drawn_from_the_seeded_generator():
    ember.manual_seed(7)
    y = ember.dropout(ember.ones(30, 40), p=0.3)
    expected_keep = np.random.default_rng(7).random((30, 40), dtype=np.float32) >= 0.3
    np.testing.assert_array_equal(y.numpy() != 0, expected_keep)


def test_dropout_is_reproducible_with_manual_seed():
    x = ember.randn(50, 20)
    ember.manual_seed(123)
    first = ember.dropout(x, 0.5).numpy()
    ember.manual_seed(123)
    second = ember.dropout(x, 0.5).numpy()
    third = ember.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(second, third)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_about_one_minus_p_and_preserves_the_mean(p):
    y = ember.dropout(ember.ones(1000, 1000), p=p).numpy()
    assert abs((y != 0).mean() - (1 - p)) < 0.003
    assert abs(y.mean() - 1.0) < 0.01


def test_dropout_backward_multiplies_by_the_same_mask():
    x = ember.tensor(np.random.default_rng(0).standard_normal((40, 50)).astype(np.float32), requires_grad=True)
    y = ember.dropout(x, p=0.4)
    upstream = np.random.default_rng(1).standard_normal((40, 50)).astype(np.float32)
    y.backward(ember.tensor(upstream))
    mask = np.where(y.numpy() != 0, np.float32(1 / 0.6), np.float32(0))
    np.testing.assert_allclose(x.grad.numpy(), upstream * mask, rtol=1e-6)
    assert x.grad.dtype == np.float32


def test_dropout_in_evaluation_or_with_p_zero_returns_the_input():
    x = ember.randn(3, 4, requires_grad=True)
    assert ember.dropout(x, 0.5, training=False) is x
    assert ember.dropout(x, 0.0) is x
    assert ember.dropout2d(ember.randn(2, 3, 4, 4), 0.5, training=False).shape == (2, 3, 4, 4)


def test_dropout_with_p_one_gives_zeros_and_zero_gradients():
    x = ember.randn(3, 4, requires_grad=True)
    y = ember.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


def test_dropout_keeps_float64():
    assert ember.dropout(ember.randn(4, 4, dtype=ember.float64), 0.5).dtype == np.float64


@pytest.mark.parametrize("fn", [ember.dropout, ember.dropout2d])
def test_dropout_gradients_check_with_a_fixed_mask(fn):
    x = ember.tensor(np.random.default_rng(3).standard_normal((2, 3, 2, 2)), requires_grad=True)

    def op(value):
        ember.manual_seed(11)  # the same mask on every evaluation
        return fn(value, 0.5)

    assert gradcheck(op, [x])
    assert gradgradcheck(op, [x])


def test_dropout2d_zeroes_whole_channels():
    y = ember.dropout2d(ember.ones(16, 32, 3, 5), p=0.5).numpy()
    per_channel = y.reshape(16, 32, -1)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # each channel is all 0 or all 2
    np.testing.assert_allclose(np.unique(per_channel), [0.0, 2.0])
    assert 0.4 < (per_channel[:, :, 0] == 0).mean() < 0.6


def test_dropout2d_on_3d_input_drops_rows_as_pytorch_does_and_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = ember.dropout2d(ember.ones(8, 16, 6), p=0.5).numpy()
    assert any("dropout2d" in str(item.message) for item in caught)
    assert np.all(y.min(axis=2) == y.max(axis=2))  # whole (n, c) rows, as dropout1d


@pytest.mark.parametrize("fn, shape", [(ember.dropout1d, (4, 6, 5)), (ember.dropout1d, (6, 5)),
                                       (ember.dropout3d, (2, 6, 2, 3, 2)), (ember.dropout3d, (6, 2, 3, 2))])
def test_feature_dropout_variants_zero_whole_channels(fn, shape):
    y = fn(ember.ones(*shape), p=0.5).numpy()
    channel_axes = 2 if len(shape) in (3, 5) else 1
    per_channel = y.reshape(shape[:channel_axes] + (-1,))
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1))


def test_alpha_dropout_keeps_mean_and_variance_and_sets_dropped_units():
    p = 0.2
    x = ember.randn(1000, 1000)
    y = ember.alpha_dropout(x, p, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01
    alpha = 1.7580993408473766
    a = 1 / math.sqrt((alpha**2 * p + 1) * (1 - p))
    kept = np.isclose(y, a * x.numpy() + alpha * a * p, rtol=1e-5, atol=1e-6)
    dropped = np.isclose(y, alpha * a * (p - 1), rtol=1e-6)
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - p) < 0.003
    assert y.dtype == np.float32


def test_alpha_dropout_defaults_to_evaluation_like_pytorch():
    x = ember.randn(3, 3)
    assert ember.alpha_dropout(x) is x


@pytest.mark.parametrize("fn", [ember.dropout, ember.dropout2d, ember.alpha_dropout])
@pytest.mark.parametrize("p", [-0.1, 1.5, None])
def test_dropout_rejects_probabilities_outside_unit_interval(fn, p):
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        fn(ember.randn(2, 3, 4, 4), p, True)


def test_dropout_rejects_integer_input_and_wrong_ranks():
    with pytest.raises(TypeError, match="floating"):
        ember.dropout(ember.tensor([1, 2, 3]), 0.5)
    with pytest.raises(ValueError, match=r"dropout2d: expected a 3-d or 4-d input.*received shape \(2, 3, 4, 4, 4\)"):
        ember.dropout2d(ember.randn(2, 3, 4, 4, 4), 0.5)
