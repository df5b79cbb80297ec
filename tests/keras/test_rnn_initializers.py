"""Keras recurrent layers: their default initialisers, checked statistically (glorot_uniform kernel, orthogonal
recurrent_kernel, zeros bias, ``unit_forget_bias``), and dropout / recurrent_dropout active only in training."""
import numpy as np
import pytest

import ember
from ember import keras
from ember.keras import layers

FEATURES, UNITS = 96, 48
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def _built(kind, features=FEATURES, units=UNITS, **options):
    layer = getattr(layers, kind)(units, **options)
    layer(ember.tensor(np.zeros((1, 2, features), dtype=np.float32)))
    return layer


@pytest.mark.parametrize("kind", sorted(GATES))
def test_kernel_is_glorot_uniform(kind):
    ember.manual_seed(0)
    kernel = _built(kind).get_weights()[0]
    width = GATES[kind] * UNITS
    limit = np.sqrt(6.0 / (FEATURES + width))  # fan_in = features, fan_out = gates x units
    assert kernel.shape == (FEATURES, width) and kernel.dtype == np.float32
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.99 * limit  # the draws fill the interval
    # mean 0 and variance limit^2 / 3 of U(-limit, limit), to a few standard errors
    assert abs(kernel.mean()) < 4 * limit / np.sqrt(3 * kernel.size)
    np.testing.assert_allclose(kernel.var(), limit ** 2 / 3, rtol=0.05)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_kernel_is_orthogonal(kind):
    ember.manual_seed(1)
    recurrent = _built(kind).get_weights()[1].astype(np.float64)
    assert recurrent.shape == (UNITS, GATES[kind] * UNITS)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(UNITS), atol=1e-5)  # orthonormal rows
    if kind == "SimpleRNN":  # square: orthonormal columns too
        np.testing.assert_allclose(recurrent.T @ recurrent, np.eye(UNITS), atol=1e-5)
    # a random rotation, not a fixed matrix: entries spread like N(0, 1/n) of the longer side
    np.testing.assert_allclose(recurrent.std(), 1 / np.sqrt(GATES[kind] * UNITS), rtol=0.1)
    ember.manual_seed(2)
    assert not np.allclose(_built(kind).get_weights()[1], recurrent, atol=1e-3)


@pytest.mark.parametrize(("kind", "options", "shape"), [
    ("SimpleRNN", {}, (UNITS,)),
    ("GRU", {}, (2, 3 * UNITS)),
    ("GRU", {"reset_after": False}, (3 * UNITS,)),
    ("LSTM", {"unit_forget_bias": False}, (4 * UNITS,)),
])
def test_bias_starts_at_zero(kind, options, shape):
    bias = _built(kind, **options).get_weights()[2]
    assert bias.shape == shape
    np.testing.assert_array_equal(bias, np.zeros(shape, np.float32))


def test_unit_forget_bias_sets_the_forget_slice_to_ones():
    bias = _built("LSTM").get_weights()[2]
    i, f, c, o = np.split(bias, 4)
    np.testing.assert_array_equal(f, np.ones(UNITS))
    np.testing.assert_array_equal(np.concatenate([i, c, o]), np.zeros(3 * UNITS))
    # the other slices come from bias_initializer, as in Keras
    bias = _built("LSTM", bias_initializer="ones").get_weights()[2]
    np.testing.assert_array_equal(bias, np.ones(4 * UNITS))


def _outputs(layer, x, training):
    return layer(ember.tensor(x), training=training).detach().numpy()


@pytest.mark.parametrize("kind", sorted(GATES))
@pytest.mark.parametrize("option", ["dropout", "recurrent_dropout"])
def test_dropout_acts_only_in_training(kind, option):
    x = np.random.default_rng(0).standard_normal((8, 6, 5)).astype(np.float32)
    plain = _built(kind, features=5, units=4, return_sequences=True)
    layer = _built(kind, features=5, units=4, return_sequences=True, **{option: 0.5})
    layer.set_weights(plain.get_weights())
    expected = _outputs(plain, x, training=False)
    np.testing.assert_array_equal(_outputs(layer, x, training=False), expected)
    layer.eval()
    np.testing.assert_array_equal(layer(ember.tensor(x)).detach().numpy(), expected)
    ember.manual_seed(3)
    trained = _outputs(layer, x, training=True)
    assert not np.allclose(trained, expected, atol=1e-4)
    if option == "recurrent_dropout":
        # the first step sees the zero initial state only, which dropout leaves unchanged
        np.testing.assert_allclose(trained[:, 0], expected[:, 0], rtol=1e-5, atol=1e-6)
    else:
        assert not np.allclose(trained[:, 0], expected[:, 0], atol=1e-4)


def test_input_dropout_mask_is_the_same_at_every_step():
    # an input whose steps are all equal, through a layer with zero recurrent kernel: each output step depends
    # on that step's (dropped) input alone, so one mask per sequence gives equal outputs at every step
    x = np.repeat(np.random.default_rng(1).standard_normal((16, 1, 6)).astype(np.float32), 5, axis=1)
    layer = _built("SimpleRNN", features=6, units=4, return_sequences=True, dropout=0.5)
    kernel, recurrent, bias = layer.get_weights()
    layer.set_weights([kernel, np.zeros_like(recurrent), bias])
    ember.manual_seed(4)
    trained = _outputs(layer, x, training=True)
    np.testing.assert_allclose(trained, np.repeat(trained[:, :1], 5, axis=1), rtol=1e-6, atol=1e-7)
    assert not np.allclose(trained, _outputs(layer, x, training=False), atol=1e-4)


def test_fit_trains_with_dropout_and_evaluate_does_not():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((32, 6, 3)).astype(np.float32), rng.integers(0, 2, 32)
    model = keras.Sequential([keras.Input((6, 3)), layers.GRU(8, dropout=0.5, recurrent_dropout=0.5),
                              layers.Dense(2)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ember.manual_seed(6)
    first, second = (model(ember.tensor(x), training=True).detach().numpy() for _ in range(2))
    assert not np.allclose(first, second, atol=1e-4)  # fresh masks per call in training
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
