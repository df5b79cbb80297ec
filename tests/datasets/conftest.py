"""Small generated MNIST-style datasets on disk, for tests that must not depend on the real files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ember.datasets.idx import write_idx

TRAIN_SIZE, TEST_SIZE = 12, 5


def make_split(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    rng.shuffle(labels)
    return images, labels


def write_dataset(folder: Path, rng: np.random.Generator, gzipped: bool = True) -> dict[str, np.ndarray]:
    """Write the four standard files into ``folder``; returns the arrays by file name (without .gz)."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gzipped else ""
    arrays = {}
    for prefix, count in (("train", TRAIN_SIZE), ("t10k", TEST_SIZE)):
        images, labels = make_split(rng, count)
        arrays[f"{prefix}-images-idx3-ubyte"] = images
        arrays[f"{prefix}-labels-idx1-ubyte"] = labels
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return arrays


@pytest.fixture
def tiny_mnist(tmp_path, rng):
    """``(root, arrays)``: a data root holding ``mnist/`` with small generated gzipped files."""
    arrays = write_dataset(tmp_path / "mnist", rng)
    return tmp_path, arrays
