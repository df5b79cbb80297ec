"""ember.nn.init: gains, fans and the distribution each initialiser draws from."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember.nn import init


def big(*shape, dtype=None):
    return nn.Parameter(ember.empty(*shape, dtype=dtype))


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fan_in_and_fan_out():
    assert init._calculate_fan_in_and_fan_out(ember.empty(16, 8, 3, 3)) == (72, 144)
    assert init._calculate_fan_in_and_fan_out(ember.empty(10, 20)) == (20, 10)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(5))


def test_uniform_and_normal_statistics():
    weight = big(500, 400)
    assert init.uniform_(weight, -2.0, 3.0) is weight
    values = weight.array
    assert values.dtype == np.float32 and values.min() >= -2.0 and values.max() < 3.0
    assert values.mean() == pytest.approx(0.5, abs=0.02)
    assert values.std() == pytest.approx(5 / math.sqrt(12), rel=0.01)
    init.normal_(weight, mean=1.5, std=0.5)
    assert weight.array.mean() == pytest.approx(1.5, abs=0.005)
    assert weight.array.std() == pytest.approx(0.5, rel=0.01)
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(weight, 1.0, 0.0)


def test_constant_zeros_ones_eye():
    weight = big(3, 4)
    np.testing.assert_array_equal(init.constant_(weight, 0.25).array, np.full((3, 4), 0.25, dtype=np.float32))
    np.testing.assert_array_equal(init.zeros_(weight).array, np.zeros((3, 4)))
    np.testing.assert_array_equal(init.ones_(weight).array, np.ones((3, 4)))
    np.testing.assert_array_equal(init.eye_(weight).array, np.eye(3, 4))
    assert weight.dtype == np.float32
    with pytest.raises(ValueError, match="2-d"):
        init.eye_(big(2, 2, 2))


def test_xavier_uniform_bound_and_std():
    fan_out, fan_in = 300, 500
    weight = big(fan_out, fan_in)
    init.xavier_uniform_(weight, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(weight.array).max() <= bound
    assert np.abs(weight.array).max() > 0.99 * bound
    assert weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def test_xavier_normal_std():
    weight = big(64, 32, 5, 5)
    init.xavier_normal_(weight)
    std = math.sqrt(2 / (32 * 25 + 64 * 25))
    assert weight.array.std() == pytest.approx(std, rel=0.01)
    assert weight.array.mean() == pytest.approx(0.0, abs=std * 0.01)


def test_kaiming_uniform_bound():
    weight = big(400, 600)
    init.kaiming_uniform_(weight)  # a=0, leaky_relu: gain sqrt(2)
    bound = math.sqrt(2) * math.sqrt(3 / 600)
    assert np.abs(weight.array).max() <= bound
    assert weight.array.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    init.kaiming_uniform_(weight, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert np.abs(weight.array).max() <= bound
    assert np.abs(weight.array).max() > 0.99 * bound


def test_kaiming_normal_std():
    weight = big(128, 64, 3, 3)
    init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    assert weight.array.std() == pytest.approx(math.sqrt(2) / math.sqrt(128 * 9), rel=0.01)
    init.kaiming_normal_(weight, a=0.2)
    gain = math.sqrt(2 / (1 + 0.2**2))
    assert weight.array.std() == pytest.approx(gain / math.sqrt(64 * 9), rel=0.01)
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(weight, mode="fan_avg")


def test_kaiming_on_empty_tensor_warns_and_returns():
    empty = big(0, 3)
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(empty) is empty


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 2, 2)])
def test_orthogonal(shape):
    weight = big(*shape)
    init.orthogonal_(weight, gain=1.5)
    matrix = weight.array.reshape(shape[0], -1).astype(np.float64) / 1.5
    rows, cols = matrix.shape
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)
    assert weight.dtype == np.float32
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(big(4))


def test_trunc_normal_bounds_and_std():
    weight = big(400, 500)
    init.trunc_normal_(weight, mean=0.5, std=1.0, a=-1.5, b=2.5)
    assert weight.array.min() >= -1.5 and weight.array.max() <= 2.5
    # variance of N(0, 1) truncated to [-2, 2]
    density = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    expected_std = math.sqrt(1 - 4 * density / mass)
    assert weight.array.std() == pytest.approx(expected_std, rel=0.01)
    assert weight.array.mean() == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="mass"):
        init.trunc_normal_(weight, mean=0.0, std=1.0, a=10.0, b=11.0)


def test_draws_keep_dtype_follow_seed_and_ignore_grad_mode():
    weight = big(3, 4, dtype=ember.float64)
    ember.manual_seed(7)
    init.kaiming_uniform_(weight)
    first = weight.array.copy()
    ember.manual_seed(7)
    init.kaiming_uniform_(weight)
    assert weight.dtype == np.float64
    np.testing.assert_array_equal(weight.array, first)
    assert weight.requires_grad and ember.is_grad_enabled()  # initialisers write data, no in-place error


def test_random_initialisers_reject_integer_tensors():
    with pytest.raises(TypeError, match="normal_: expected a floating tensor"):
        init.normal_(ember.zeros(3, dtype=ember.int64))
