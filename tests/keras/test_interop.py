"""The two dialects mix: nn modules inside Keras models, and Keras models in hand-written loops."""
from __future__ import annotations

import numpy as np

import ember
from ember import keras, nn


class Residual(nn.Module):
    """A custom layer written with the low-level API."""

    def __init__(self, features):
        super().__init__()
        self.linear = nn.Linear(features, features)

    def forward(self, x):
        return x + ember.relu(self.linear(x))


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def test_custom_nn_module_trains_inside_keras_sequential():
    x, y = _data()
    model = keras.Sequential([keras.Input(shape=(6,)), Residual(6), keras.layers.Dense(2, activation="softmax")])
    assert sum(w.numel() for w in model.trainable_weights) == 6 * 6 + 6 + 6 * 2 + 2
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.layers[0].linear.weight.numpy().copy()
    history = model.fit(x, y, epochs=15, batch_size=20, verbose=0)
    assert not np.array_equal(before, model.layers[0].linear.weight.numpy())
    assert history.history["accuracy"][-1] > 0.9


def test_hand_written_loop_gives_the_same_weights_as_fit():
    x, y = _data(96)

    def build():
        ember.manual_seed(7)
        keras.backend.clear_session()
        return keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="tanh"),
                                 keras.layers.Dense(2, activation="softmax")])

    fitted = build()
    fitted.compile(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), "sparse_categorical_crossentropy")
    fitted.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    looped = build()
    np.testing.assert_array_equal(looped.get_weights()[0], build().get_weights()[0])
    optimizer = ember.optim.SGD(looped.parameters(), lr=0.1, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()  # reads the logits behind the softmax, as fit does
    looped.train()
    for _ in range(3):
        for start in range(0, 96, 16):
            xb = ember.tensor(x[start:start + 16])
            yb = ember.tensor(y[start:start + 16])
            optimizer.zero_grad()
            loss = loss_fn(yb, looped(xb))
            loss.backward()
            optimizer.step()
    for fitted_weight, looped_weight in zip(fitted.get_weights(), looped.get_weights()):
        np.testing.assert_allclose(fitted_weight, looped_weight, rtol=1e-5, atol=1e-6)


def test_keras_model_output_feeds_low_level_code():
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(3)])
    out = model(ember.ones(4, 6))
    assert isinstance(out, ember.Tensor)
    out.sum().backward()
    assert model.layers[0].kernel.grad.shape == (6, 3)
