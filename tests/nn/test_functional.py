"""ember.nn.functional: linear, embedding, softmax's implicit dim, and the re-exported functions."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.functions
import ember.nn.functional as F


def test_linear_matches_numpy_and_differentiates():
    x = ember.randn(3, 4, requires_grad=True)
    weight = ember.randn(2, 4, requires_grad=True)
    bias = ember.randn(2, requires_grad=True)
    y = F.linear(x, weight, bias)
    np.testing.assert_allclose(y.array, x.array @ weight.array.T + bias.array, rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32
    upstream = ember.randn(3, 2)
    y.backward(upstream)
    np.testing.assert_allclose(x.grad.array, upstream.array @ weight.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weight.grad.array, upstream.array.T @ x.array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias.grad.array, upstream.array.sum(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.linear(x, weight).array, x.array @ weight.array.T, rtol=1e-5, atol=1e-6)


def test_linear_gradcheck():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    weight = ember.randn(2, 4, dtype=ember.float64, requires_grad=True)
    bias = ember.randn(2, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(F.linear, (x, weight, bias))


def test_linear_errors():
    with pytest.raises(ValueError, match=r"linear: expected input with last dimension 4 \(weight shape \(2, 4\)\), "
                                         r"received shape \(3, 5\)"):
        F.linear(ember.randn(3, 5), ember.randn(2, 4))
    with pytest.raises(ValueError, match="1-d or 2-d weight"):
        F.linear(ember.randn(3, 4), ember.randn(1, 2, 4))


def test_embedding_function():
    weight = ember.randn(6, 3, requires_grad=True)
    indices = np.array([[5, 0], [5, 2]], dtype=np.int64)
    out = F.embedding(ember.tensor(indices), weight, padding_idx=-1)
    np.testing.assert_array_equal(out.array, weight.array[indices])
    out.sum().backward()
    expected = np.zeros((6, 3), dtype=np.float32)
    expected[0] = 1.0
    expected[2] = 1.0  # row 5 is the padding row (-1): no gradient
    np.testing.assert_array_equal(weight.grad.array, expected)


def test_softmax_dims():
    x = ember.randn(2, 3)
    np.testing.assert_allclose(F.softmax(x, dim=0).array.sum(axis=0), 1.0, rtol=1e-6)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.array.sum(axis=1), 1.0, rtol=1e-6)  # 2-d input: dim 1
    with pytest.warns(UserWarning, match="log_softmax"):
        y = F.log_softmax(ember.randn(4))
    np.testing.assert_allclose(np.exp(y.array).sum(), 1.0, rtol=1e-6)
    assert F.softmax(x, dim=1, dtype=ember.float64).dtype == np.float64


REEXPORTED = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "layer_norm", "dropout",
    "dropout2d", "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "relu", "relu6", "leaky_relu", "elu", "gelu", "silu",
    "sigmoid", "tanh", "softplus", "one_hot", "pad", "conv1d", "group_norm", "instance_norm", "dropout1d",
    "dropout3d", "alpha_dropout", "kl_div", "hardtanh", "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d",
]


@pytest.mark.parametrize("name", REEXPORTED)
def test_reexports_are_the_functions_layer(name):
    assert getattr(F, name) is getattr(ember.functions, name)
    assert name in F.__all__


def test_one_hot_and_pad_through_functional():
    np.testing.assert_array_equal(F.one_hot(ember.tensor([2, 0]), 3).array, [[0, 0, 1], [1, 0, 0]])
    assert F.pad(ember.randn(1, 2, 3, 3), (1, 1, 2, 0)).shape == (1, 2, 5, 5)



INPLACE_FUNCTIONS = [F.relu, F.relu6, F.hardtanh, F.leaky_relu, F.elu, F.silu, F.dropout, F.dropout1d, F.dropout2d,
                     F.dropout3d, F.alpha_dropout]


@pytest.mark.parametrize("function", INPLACE_FUNCTIONS, ids=lambda f: f.__name__)
def test_inplace_true_warns_and_returns_a_new_tensor(function):
    shapes = {F.dropout2d: (2, 3, 4, 4), F.dropout3d: (2, 3, 4, 4, 2)}
    x = ember.randn(*shapes.get(function, (2, 3, 4)))
    before = x.numpy().copy()
    with pytest.warns(UserWarning, match=rf"{function.__name__}: inplace=True has no effect in Ember") as record:
        y = function(x, inplace=True)
    assert record[0].filename == __file__
    np.testing.assert_array_equal(x.numpy(), before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ember.manual_seed(0)
        expected = function(x)
        function(x, inplace=False)
    if function not in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout):
        np.testing.assert_array_equal(y.numpy(), expected.numpy())


def test_embedding_sparse_warns_that_it_has_no_effect():
    weight = ember.randn(5, 3)
    with pytest.warns(UserWarning, match="embedding: sparse=True has no effect in Ember"):
        rows = F.embedding(ember.tensor([0, 4]), weight, sparse=True)
    np.testing.assert_array_equal(rows.numpy(), weight.numpy()[[0, 4]])


def test_softmax_stacklevel_places_the_implicit_dim_warning():
    x = ember.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension") as record:
        F.softmax(x)
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="Implicit dimension") as record:
        F.log_softmax(x, _stacklevel=2)
    assert record[0].filename.endswith("functional.py")
