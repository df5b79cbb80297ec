"""Shared test fixtures: seeded randomness, the MNIST data root, and markers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ember

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_everything():
    ember.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def kernels():
    """The compiled CPU kernels; the test is skipped where they cannot be built."""
    from ember.backend import compiled

    found = compiled.kernels()
    if found is None:
        pytest.skip(f"no compiled kernels to test: {compiled.status()}")
    return found


@pytest.fixture(autouse=True)
def _settings_restored():
    """Every test starts from the settings the suite started with (``ember.config.set`` inside a test, or
    ``ember.set_num_threads``, does not leak into the next)."""
    with ember.config._isolated():
        yield


@pytest.fixture(params=["direct", "compiled", "numpy"])
def cpu_kernels(request):
    """Run a test three times: on the compiled CPU kernels with the direct convolutions (split between
    threads however small the work), on the compiled kernels with im2col convolutions (both skipped when the
    kernels cannot be built), and on NumPy alone."""
    from ember.backend import compiled

    if request.param == "numpy":
        settings = {"kernels": "numpy"}
    elif compiled.kernels() is None:
        pytest.skip(f"no compiled kernels to test: {compiled.status()}")
    elif request.param == "direct":
        settings = {"parallel_conv_flops": 0}
    else:
        settings = {"conv": "im2col"}
    with ember.config.override(**settings):
        yield request.param


def mnist_root() -> Path | None:
    """The data root holding ``mnist/`` (from EMBER_DATA), or None."""
    root = os.environ.get("EMBER_DATA")
    if root and (Path(root) / "mnist").is_dir():
        return Path(root)
    return None


@pytest.fixture
def mnist_data_root():
    root = mnist_root()
    if root is None:
        pytest.skip("real MNIST not found: set EMBER_DATA to a folder holding mnist/ (e.g. ../shared/data)")
    return root


def pytest_collection_modifyitems(config, items):
    cuda_available = ember.cuda.is_available() if hasattr(ember, "cuda") else False
    skip_cuda = pytest.mark.skip(reason="needs an NVIDIA GPU with CuPy (ember.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords and not cuda_available:
            item.add_marker(skip_cuda)
