"""No float64 anywhere in a float32 training step: every op output, gradient and optimizer state stays float32."""
from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
from ember import keras
from ember.autograd.function import Function


@pytest.fixture
def recorded_dtypes(monkeypatch):
    seen = []
    original = Function._finish

    def recording_finish(self, raw, record):
        result = original(self, raw, record)
        for out in result if isinstance(result, tuple) else (result,):
            seen.append((type(self).__name__, out.dtype))
        return result

    monkeypatch.setattr(Function, "_finish", recording_finish)
    return seen


def _assert_no_float64(seen, parameters, optimizer):
    wide = sorted({name for name, dtype in seen if dtype == np.float64})
    assert not wide, f"ops producing float64 in a float32 step: {wide}"
    for p in parameters:
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    for state in optimizer.state.values():
        for value in state.values():
            if hasattr(value, "dtype"):
                assert value.dtype == np.float32


def test_pytorch_dialect_convnet_step_stays_float32(recorded_dtypes):
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 10),
    )
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = ember.rand(4, 1, 28, 28)
    y = ember.randint(0, 10, (4,))
    loss = nn.functional.cross_entropy(model(x), y, label_smoothing=0.1) + 0.5 * model[-1].weight.square().mean()
    loss.backward()
    optimizer.step()
    _assert_no_float64(recorded_dtypes, list(model.parameters()), optimizer)


def test_keras_codelab_step_stays_float32(recorded_dtypes):
    from ember.tutorials import mnist_codelab

    model = mnist_codelab.batchnorm_convnet()
    x = np.random.default_rng(0).random((8, 784))  # float64 data, as NumPy makes it
    y = keras.utils.to_categorical(np.arange(8) % 10, 10)
    model.train_on_batch(x, y)
    _assert_no_float64(recorded_dtypes, model.trainable_weights, model.optimizer.inner)
