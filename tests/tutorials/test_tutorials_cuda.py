"""The tutorial programs for one epoch on the GPU (skipped without an NVIDIA GPU, CuPy and real MNIST)."""
from __future__ import annotations

import pytest

from ember.tutorials import mnist_codelab

from .test_pytorch_style_cnn import _load_program

pytestmark = pytest.mark.cuda


def test_codelab_batchnorm_convnet_one_epoch_on_gpu(mnist_data_root):
    results = mnist_codelab.train("batchnorm", epochs=1, data_dir=mnist_data_root, verbose=0)
    assert results["test_accuracy"] > 0.98


def test_pytorch_style_cnn_one_epoch_on_gpu(mnist_data_root):
    history = _load_program().main(["--epochs", "1", "--data-root", str(mnist_data_root)])
    assert history[0]["test_accuracy"] > 0.98
