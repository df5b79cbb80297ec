"""``ember.keras.ops`` against Keras 3.15.1's own results (torch backend), its gradients, and its errors.

``tests/functions/fixtures/keras_ops.npz`` is written by ``make_keras_ops_fixtures.py`` beside it, which runs
the calls of ``keras_ops_cases.py`` with Keras; this file runs the same calls with ``ember.keras.ops``.
"""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

import ember
from ember import keras
from ember.autograd import gradcheck

ops = keras.ops
FIXTURE_DIR = pathlib.Path(__file__).parents[1] / "functions" / "fixtures"
FIXTURES = np.load(FIXTURE_DIR / "keras_ops.npz")
_spec = importlib.util.spec_from_file_location("keras_ops_cases", FIXTURE_DIR / "keras_ops_cases.py")
assert _spec is not None and _spec.loader is not None
CASES_MODULE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CASES_MODULE)


@pytest.mark.parametrize("name", sorted(CASES_MODULE.CASES))
def test_matches_keras(name):
    result = CASES_MODULE.CASES[name](ops, CASES_MODULE.inputs())
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    expected = sorted((key for key in FIXTURES.files if key.startswith(f"{name}/")), key=lambda k: int(k.split("/")[1]))
    assert len(outputs) == len(expected), f"{name}: {len(outputs)} outputs, Keras gave {len(expected)}"
    for output, key in zip(outputs, expected):
        got, want = ops.convert_to_numpy(output), FIXTURES[key]
        assert got.dtype == want.dtype, f"{key}: dtype {got.dtype}, Keras {want.dtype}"
        assert got.shape == want.shape, f"{key}: shape {got.shape}, Keras {want.shape}"
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=2e-6 if want.dtype != np.float16 else 1e-3, atol=1e-6,
                                       err_msg=key)
        else:
            np.testing.assert_array_equal(got, want, err_msg=key)


def test_the_fixtures_come_from_keras_3():
    assert str(FIXTURES["keras_version"]).startswith("3.")


def _float64(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("function", [
    lambda x: ops.softmax(x, axis=0),
    lambda x: ops.log_softmax(x),
    lambda x: ops.var(x, axis=1),
    lambda x: ops.std(x, axis=(0, 1)),
    lambda x: ops.top_k(x, 2)[0],
    lambda x: ops.take(x, np.array([[0, 2, 2]]), axis=1),
    lambda x: ops.take_along_axis(x, np.array([[1], [0], [2]]), axis=1),
    lambda x: ops.repeat(x, 2, axis=1),
    lambda x: ops.tile(x, (2, 1)),
    lambda x: ops.split(x, [1], axis=1)[1],
    lambda x: ops.einsum("ij,kj->ik", x, x),
    lambda x: ops.matmul(x, ops.transpose(x)),
    lambda x: ops.tril(x) + ops.triu(x, k=1) * 2.0,
    lambda x: ops.gelu(x) + ops.silu(x) + ops.erf(x),
    lambda x: ops.slice(x, (1, 0), (2, 2)),
    lambda x: ops.cumsum(x, axis=0),
    lambda x: ops.expand_dims(ops.squeeze(ops.reshape(x, (1, 3, 3))), -1),
    lambda x: ops.where(ops.greater(x, 0.0), x, ops.square(x)),
], ids=["softmax", "log_softmax", "var", "std", "top_k", "take", "take_along_axis", "repeat", "tile", "split",
        "einsum", "matmul", "tril_triu", "activations", "slice", "cumsum", "shapes", "where"])
def test_differentiable_through_ember_autograd(function):
    assert gradcheck(function, [_float64(3, 3)])


def test_conversions_and_shape():
    tensor = ops.convert_to_tensor(np.ones((2, 3), dtype=np.float64))
    assert isinstance(tensor, ember.Tensor) and tensor.dtype == np.float64
    assert ops.convert_to_tensor([1, 2]).dtype == np.int32 and ops.convert_to_tensor(1.5).dtype == np.float32
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    same = ember.ones(2)
    assert ops.convert_to_tensor(same) is same
    assert isinstance(ops.convert_to_numpy(same), np.ndarray) and ops.convert_to_numpy([1, 2]).tolist() == [1, 2]
    assert ops.shape(ember.ones(2, 3)) == (2, 3)
    assert ops.ones((2,)).dtype == np.float32 and ops.zeros(3, dtype="int32").dtype == np.int32
    assert ops.ones_like(np.arange(3)).dtype == np.int64
    assert ops.zeros_like(ember.ones(2), dtype="bool").dtype == np.bool_
    values, step = ops.linspace(0.0, 1.0, 5, retstep=True)
    assert step == 0.25 and values.dtype == np.float32


def test_elementwise_and_comparisons():
    x = ember.tensor([-2.0, 0.5, 4.0])
    np.testing.assert_allclose(ops.exp(x).numpy(), np.exp(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(ops.log(ops.abs(x)).numpy(), np.log(np.abs(x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(ops.sin(x).numpy() ** 2 + ops.cos(x).numpy() ** 2, 1.0, rtol=1e-6)
    assert ops.relu(x).tolist() == [0.0, 0.5, 4.0] and ops.maximum(x, 1.0).tolist() == [1.0, 1.0, 4.0]
    assert ops.minimum(1.0, x).tolist() == [-2.0, 0.5, 1.0]
    np.testing.assert_allclose(ops.sigmoid(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(ops.tanh(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    assert ops.not_equal(x, 0.5).tolist() == [True, False, True] and ops.less(x, 0.0).tolist() == [True, False, False]
    assert ops.logical_or(ops.less(x, 0.0), ops.greater(x, 1.0)).tolist() == [True, False, True]
    assert ops.greater_equal(x, 0.5).tolist() == [False, True, True] and ops.less_equal(x, 0.5).tolist()[1]
    assert ops.square(x).tolist() == [4.0, 0.25, 16.0] and ops.power(2.0, ember.tensor([3.0])).tolist() == [8.0]
    assert ops.sum(x).item() == 2.5 and ops.mean(x, keepdims=True).shape == (1,)
    assert ops.max(x).item() == 4.0 and ops.min(x, initial=-5.0).item() == -5.0
    rows, cols = ops.where(ember.tensor([[True, False], [False, True]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_one_hot_stack_concatenate_and_creation():
    assert ops.one_hot(ember.tensor([1, 3]), 3, dtype="int32").tolist() == [[0, 1, 0], [0, 0, 0]]
    assert ops.stack([ember.ones(2), ember.zeros(2)], axis=1).shape == (2, 2)
    assert ops.concatenate([ember.ones(2, 1), ember.zeros(2, 3)], axis=-1).shape == (2, 4)
    assert ops.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]] and ops.arange(3).tolist() == [0, 1, 2]
    assert ops.full((2,), 1.5, dtype="float64").dtype == np.float64
    assert ops.cast(ember.tensor([1.7, -1.7]), "int32").tolist() == [1, -1]


def test_errors_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"keras\.ops\.split: axis 1 of shape \(4, 6\) does not split into 4 equal"):
        ops.split(ember.ones(4, 6), 4, axis=1)
    with pytest.raises(ValueError, match=r"keras\.ops\.squeeze: axis 0 of shape \(2, 1\) has size 2, not 1"):
        ops.squeeze(ember.ones(2, 1), axis=0)
    with pytest.raises(ValueError, match=r"keras\.ops\.slice: expected 2 start indices and sizes for shape \(2, 3\)"):
        ops.slice(ember.ones(2, 3), (0,), (1,))
    with pytest.raises(TypeError, match=r"keras\.ops\.take: indices must be integers, received dtype float64"):
        ops.take(ember.ones(3), np.array([0.0]))
    with pytest.raises(ValueError, match=r"keras\.ops\.where: pass both x1 and x2, or neither"):
        ops.where(ember.ones(2, dtype=ember.bool), 1.0)
    with pytest.raises(ValueError, match=r"keras\.ops\.expand_dims: axis 4 is out of range"):
        ops.expand_dims(ember.ones(2, 3), 4)
    with pytest.raises(ValueError, match="sparse"):
        ops.one_hot(np.array([1]), 2, sparse=True)


def test_a_custom_layer_written_with_ops_trains():
    """A Keras-style attention-pooling layer written only with keras.ops: its weights receive gradients."""

    class AttentionPool(keras.layers.Layer):
        def build(self, input_shape):
            self.query = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="query")

        def call(self, inputs):
            scores = ops.einsum("btd,d->bt", inputs, self.query) / ops.sqrt(float(inputs.shape[-1]))
            weights = ops.softmax(scores, axis=-1)
            return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    layer = AttentionPool()
    inputs = ember.randn(2, 5, 4)
    output = layer(inputs)
    assert output.shape == (2, 4)
    ops.mean(ops.square(output)).backward()
    assert layer.query.grad is not None and layer.query.grad.shape == (4,)


def test_take_follows_numpy_for_negative_indices():
    """Negative indices count from the end of the flattened tensor (``np.take``); Keras 3.15.1 on its torch
    backend counts them from the end of the first axis instead, so the fixtures use non-negative ones."""
    m = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(ops.take(m, np.array([[0, -1]])).numpy(), np.take(m, [[0, -1]]))
    np.testing.assert_array_equal(ops.take(m, np.array([-1, 1]), axis=1).numpy(), np.take(m, [-1, 1], axis=1))
