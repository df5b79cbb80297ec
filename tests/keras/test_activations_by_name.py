"""Keras activations by name against Keras 3.15.1's values (recorded with its torch backend, rounded to 6
places) on x = [-4, -3, -1, 0, 0.5, 2.9, 3, 5]."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import keras
from ember.keras import activations

X = np.array([-4, -3, -1, 0, 0.5, 2.9, 3, 5], dtype=np.float32)
KERAS = {
    "hard_sigmoid": [0.0, 0.0, 0.333333, 0.5, 0.583333, 0.983333, 1.0, 1.0],
    "hard_silu": [0.0, 0.0, -0.333333, 0.0, 0.291667, 2.851667, 3.0, 5.0],
    "relu6": [0.0, 0.0, 0.0, 0.0, 0.5, 2.9, 3.0, 5.0],
    "selu": [-1.725899, -1.670569, -1.111331, 0.0, 0.52535, 3.047033, 3.152103, 5.253505],
    "softsign": [-0.8, -0.75, -0.5, 0.0, 0.333333, 0.74359, 0.75, 0.833333],
    "mish": [-0.072592, -0.145647, -0.303401, 0.0, 0.375245, 2.884267, 2.986535, 4.999552],
    "swish": [-0.071945, -0.142278, -0.268941, 0.0, 0.31123, 2.748755, 2.857722, 4.966536],
    "exponential": [0.018316, 0.049787, 0.367879, 1.0, 1.648721, 18.174147, 20.085535, 148.413162],
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_activation_matches_keras(name):
    got = activations.get(name)(ember.tensor(X)).numpy()
    np.testing.assert_allclose(got, KERAS[name], rtol=2e-6, atol=1e-6)
    assert activations.serialize(activations.get(name)) in (name, "silu", "hard_silu")


def test_lstm_with_hard_sigmoid_recurrent_activation_runs_and_backpropagates():
    ember.manual_seed(0)
    layer = keras.layers.LSTM(4, recurrent_activation="hard_sigmoid")
    x = ember.tensor(np.random.default_rng(0).standard_normal((3, 5, 2)).astype(np.float32))
    y = layer(x)
    assert y.shape == (3, 4)
    y.sum().backward()
    assert all(np.isfinite(w.grad.numpy()).all() for w in layer.trainable_weights)
