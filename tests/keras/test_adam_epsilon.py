"""Keras's Adam puts epsilon beside the uncorrected ``sqrt(v)`` — ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m /
(sqrt(v) + epsilon)`` — where PyTorch's puts it beside ``sqrt(v_hat)``; with small gradients the two differ.
The trajectories in ``fixtures/keras_adam.npz`` were recorded from Keras 3.15.1 by
``fixtures/make_keras_adam_fixtures.py``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ember
from ember import config, keras

FIXTURES = np.load(Path(__file__).parent / "fixtures" / "keras_adam.npz")

CASES = {
    "adam": lambda: keras.optimizers.Adam(learning_rate=0.01),
    "adam_eps": lambda: keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-3, beta_2=0.99),
    "adamw": lambda: keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
    "amsgrad": lambda: keras.optimizers.Adam(learning_rate=0.01, amsgrad=True, epsilon=1e-4),
}


@pytest.mark.parametrize("fast_paths", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_adam_follows_keras_trajectory(case, fast_paths):
    weight = ember.tensor(FIXTURES["initial"].copy(), requires_grad=True)
    optimizer = CASES[case]()
    optimizer.build([weight])
    with config.override(fast_paths=fast_paths):
        for step, gradient in enumerate(FIXTURES["gradients"]):
            weight.grad = ember.tensor(gradient.copy())
            optimizer.step()
            np.testing.assert_allclose(weight.array, FIXTURES[f"{case}/weights"][step], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{case}, update {step + 1}")
