"""Each optimizer minimises a least-squares problem (and Rosenbrock's function) to a tolerance."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.optim import SGD, Adam, AdamW, RMSprop

_rng = np.random.default_rng(0)
X = _rng.standard_normal((64, 5)).astype(np.float32)
W_TRUE = _rng.standard_normal((5, 1)).astype(np.float32)
B_TRUE = 0.5
Y = X @ W_TRUE + np.float32(B_TRUE)


@pytest.mark.parametrize(
    "optimizer_class, options, steps, tolerance",
    [
        (SGD, dict(lr=0.1), 300, 1e-5),
        (SGD, dict(lr=0.05, momentum=0.9, nesterov=True), 200, 1e-5),
        (Adam, dict(lr=0.05), 400, 1e-3),
        (Adam, dict(lr=0.05, amsgrad=True), 400, 1e-3),
        (AdamW, dict(lr=0.05), 400, 5e-3),  # decoupled decay pulls the optimum slightly toward 0
        (RMSprop, dict(lr=0.003), 800, 5e-3),
        (RMSprop, dict(lr=0.01, centered=True, momentum=0.5), 300, 1e-3),
    ],
    ids=["SGD", "SGD-nesterov", "Adam", "Adam-amsgrad", "AdamW", "RMSprop", "RMSprop-centered-momentum"],
)
def test_least_squares_converges(optimizer_class, options, steps, tolerance):
    w = ember.zeros(5, 1, requires_grad=True)
    b = ember.zeros(1, requires_grad=True)
    x, y = ember.tensor(X), ember.tensor(Y)
    optimizer = optimizer_class([w, b], **options)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(w.array, W_TRUE, atol=tolerance)
    np.testing.assert_allclose(b.array, [B_TRUE], atol=tolerance)
    assert w.dtype == np.float32


@pytest.mark.parametrize(
    "optimizer_class, options, steps",
    [(SGD, dict(lr=1e-3, momentum=0.9), 2000), (Adam, dict(lr=0.02), 3000)],
    ids=["SGD-momentum", "Adam"],
)
def test_rosenbrock_reaches_its_minimum(optimizer_class, options, steps):
    point = ember.tensor(np.array([-1.5, 2.0], dtype=np.float32), requires_grad=True)
    optimizer = optimizer_class([point], **options)

    def closure():
        optimizer.zero_grad()
        x, y = point[0], point[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        return loss

    for _ in range(steps):
        loss = optimizer.step(closure)
    np.testing.assert_allclose(point.array, [1.0, 1.0], atol=1e-3)
    assert float(loss) < 1e-5
