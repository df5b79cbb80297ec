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


@pytest.fixture(params=["compiled", "numpy"])
def cpu_kernels(request, monkeypatch):
    """Run a test twice: on the compiled CPU kernels (skipped when they cannot be built) and on NumPy alone."""
    from ember.backend import compiled

    if request.param == "compiled":
        if compiled.kernels() is None:
            pytest.skip(f"no compiled kernels to test: {compiled.status()}")
    else:
        monkeypatch.setattr(compiled, "_kernels", None)
    return request.param


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
