"""``keras.datasets.cifar10``: ``load_data()`` -> ``(x_train, y_train), (x_test, y_test)`` as Keras returns them:
uint8 images ``(50000, 32, 32, 3)`` and ``(10000, 32, 32, 3)`` (channels last), uint8 labels ``(N, 1)`` in 0–9.

The archive ``cifar-10-python.tar.gz`` (163 MiB) is downloaded on first use into ``<data root>/cifar-10/`` with
the SHA-256 Keras publishes, and read in place. Its batches are Python pickles: they are read with an unpickler
that accepts nothing but NumPy arrays, lists, dicts, numbers and strings.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ...datasets.download import fetch_file
from ...datasets.root import ENV_VAR, data_root

__all__ = ["load_data"]

URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
ARCHIVE = "cifar-10-python.tar.gz"
SHA256 = ("6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",)
FOLDER = "cifar-10"
TRAIN_BATCHES = tuple(f"cifar-10-batches-py/data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "cifar-10-batches-py/test_batch"

# The only globals a CIFAR batch may name: how NumPy pickles an array (module moved in NumPy 2).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"cifar10: refusing to load {module}.{name} from a dataset batch; the file "
                                     "is damaged or not CIFAR-10")


def _read_batch(archive: tarfile.TarFile, member: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 32, 32, 3)`` and labels ``(N,)``, both uint8, of one pickled batch inside the archive."""
    handle = archive.extractfile(member)
    if handle is None:
        raise ValueError(f"cifar10: '{member}' in {archive.name} is not a file")
    batch = _ArraysOnlyUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"cifar10: '{member}' in {archive.name} does not hold a CIFAR-10 batch")
    images = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    if images.ndim != 2 or images.shape[1] != 3 * 32 * 32 or labels.shape != (images.shape[0],):
        raise ValueError(f"cifar10: '{member}' holds images {images.shape} and labels {labels.shape}; expected "
                         f"(N, 3072) and (N,)")
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_data(path: str | os.PathLike | None = None) -> tuple:
    """Keras-style CIFAR-10: ``((x_train, y_train), (x_test, y_test))``; ``path`` is the data root (default
    ``$EMBER_DATA``, else ``~/.cache/ember/datasets``). Downloads the archive when it is not there yet."""
    folder = data_root(path) / FOLDER
    instructions = (f"To install it by hand, copy {ARCHIVE} into {folder}/, or set {ENV_VAR} to a folder that "
                    f"holds {FOLDER}/{ARCHIVE}.")
    archive_path = fetch_file(URLS, folder / ARCHIVE, SHA256, "CIFAR-10", instructions)
    with tarfile.open(Path(archive_path), "r:gz") as archive:
        train = [_read_batch(archive, member) for member in TRAIN_BATCHES]
        x_test, y_test = _read_batch(archive, TEST_BATCH)
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
