"""The Keras-dialect sequential-MNIST program: a fast run on tiny random data, and (slow) the accuracy on real
MNIST."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.datasets.conftest import write_dataset


def _load_program():
    path = REPO_ROOT / "examples" / "keras_sequential_mnist.py"
    spec = importlib.util.spec_from_file_location("keras_sequential_mnist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_reads_28_rows_and_has_keras_parameter_count():
    model = _load_program().build_model()
    # LSTM(128) on 28 features: 4 gates x (28 + 128 + 1 bias) x 128; Dense(128 -> 10)
    assert model.count_params() == 4 * 128 * (28 + 128 + 1) + 128 * 10 + 10


def test_runs_end_to_end_on_tiny_random_data(tmp_path, capsys):
    write_dataset(tmp_path / "mnist", np.random.default_rng(0))
    history = _load_program().main(["--epochs", "2", "--batch-size", "4", "--data-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "epoch 2: train loss" in printed and "test accuracy" in printed
    assert len(history) == 2 and all(0.0 <= entry["test_accuracy"] <= 1.0 for entry in history)
    assert np.isfinite(history[-1]["train_loss"])


@pytest.mark.slow
def test_reaches_98_percent_within_5_epochs_on_real_mnist(mnist_data_root):
    history = _load_program().main(["--epochs", "5", "--seed", "0", "--data-dir", str(mnist_data_root)])
    assert max(entry["test_accuracy"] for entry in history) >= 0.98
