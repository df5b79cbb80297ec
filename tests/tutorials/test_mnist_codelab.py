"""The MNIST codelab run end to end on a slice of real MNIST (skipped without EMBER_DATA)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ember import keras
from ember.tutorials import mnist_codelab


def test_every_step_builds_and_compiles():
    for name, step in mnist_codelab.STEPS.items():
        keras.backend.clear_session()
        model = step.build()
        assert model.optimizer is not None and model.loss is not None, name
        assert model.output_shape == (None, 10), name


def test_codelab_pipeline_on_real_files(mnist_data_root):
    files = mnist_codelab.mnist_files(mnist_data_root)
    validation = mnist_codelab.get_validation_dataset(files["test_images"], files["test_labels"])
    images, labels = next(iter(validation))
    assert images.shape == (10000, 784) and images.dtype == np.float32
    assert labels.shape == (10000, 10) and labels.sum(axis=1).tolist() == [1.0] * 10000
    assert 0.0 <= images.min() and images.max() < 1.0
    training = mnist_codelab.get_training_dataset(files["train_images"], files["train_labels"], 128)
    x, y = next(iter(training))
    assert x.shape == (128, 784) and y.shape == (128, 10)


def test_lr_decay_callback_follows_the_codelab_schedule(mnist_data_root, tmp_path):
    results = mnist_codelab.train("lr_decay", epochs=2, data_dir=mnist_data_root, limit=2048, verbose=0,
                                  out=tmp_path)
    assert results["history"]["learning_rate"] == pytest.approx([0.01, 0.006])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_accuracy"] == pytest.approx(results["test_accuracy"])
    assert results["test_accuracy"] > 0.85  # 2 epochs on 2,048 images


@pytest.mark.parametrize("step, epochs, floor", [("dense", 3, 0.45), ("batchnorm", 1, 0.85)])
def test_steps_learn_on_a_slice(mnist_data_root, step, epochs, floor):
    """72 plain-SGD steps of the softmax layer, or 48 Adam steps of the batch-norm convnet, on 3,072 images."""
    results = mnist_codelab.train(step, epochs=epochs, data_dir=mnist_data_root, limit=3072, verbose=0)
    assert math.isfinite(results["test_loss"])
    assert results["test_accuracy"] > floor
