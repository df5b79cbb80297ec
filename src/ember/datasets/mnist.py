"""MNIST, handwritten digits: ``MNIST`` (torchvision-style dataset) and ``load_data()`` (Keras-style arrays).

    from ember.datasets import MNIST
    train_set = MNIST(train=True)            # files from $EMBER_DATA/mnist or ~/.cache/ember/datasets/mnist
    image, label = train_set[0]              # uint8 (28, 28) array, int
    images, labels = train_set.get_batch([0, 1, 2])   # Tensors (3, 28, 28) uint8 and (3,) int64

    from ember.datasets import mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
"""
from __future__ import annotations

import operator
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..autograd.tensor import Tensor
from ..data.dataset import Dataset
from .download import fetch
from .idx import read_idx
from .root import ALL_FILES, ENV_VAR, SPLIT_FILES, data_root, dataset_folder, locate_files

__all__ = ["MNIST", "load_data", "ensure_files"]

# resolved path -> ((size, mtime), parsed array): a file replaced on disk is parsed again
_CACHE: dict[str, tuple[tuple[int, int], np.ndarray]] = {}
_CACHE_LOCK = threading.Lock()


def _read_cached(path: Path) -> np.ndarray:
    """Parse an IDX file once per process; the array is shared, so it is made read-only."""
    key = str(path.resolve())
    stat = path.stat()
    signature = (stat.st_size, stat.st_mtime_ns)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        array = read_idx(path)
        array.flags.writeable = False
        _CACHE[key] = (signature, array)
    return array


def _load_split(dataset: str, display_name: str, root, train: bool, download: bool, num_classes: int):
    """The ``(images, labels)`` arrays of one split (uint8 (N, 28, 28), uint8 (N,)) and the folder they came from."""
    names = SPLIT_FILES["train" if train else "test"]
    try:
        paths = locate_files(dataset, names, root, display_name)
    except FileNotFoundError:
        if not download:
            raise
        fetch(dataset, root)
        paths = locate_files(dataset, names, root, display_name)
    images_path, labels_path = paths[names[0]], paths[names[1]]
    images, labels = _read_cached(images_path), _read_cached(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{display_name}: expected '{images_path}' to hold uint8 images (N, H, W), "
            f"found {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{display_name}: expected '{labels_path}' to hold uint8 labels (N,), found {labels.dtype} {labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{display_name}: '{images_path}' holds {images.shape[0]} images but '{labels_path}' holds "
            f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"{display_name}: expected labels in [0, {num_classes}) in '{labels_path}', found {int(labels.max())}"
        )
    return images, labels, images_path.parent


class MNIST(Dataset):
    """The MNIST digits, as ``torchvision.datasets.MNIST``: 60,000 training or 10,000 test images.

    A map-style ``ember.data.Dataset`` whose ``get_batch`` lets ``DataLoader`` fetch a batch in one indexing.

    Args:
        root: the data root (holding ``mnist/``, or torchvision's ``MNIST/raw/``) or the dataset folder itself;
            default ``$EMBER_DATA``, else ``~/.cache/ember/datasets``.
        train: the training split if True, else the test split.
        transform: applied to each uint8 ``(28, 28)`` image array in ``__getitem__`` (and, batched through
            ``ember.data.transforms.apply_batch``, in ``get_batch``).
        target_transform: applied to each int label.
        download: fetch the files into ``<root>/mnist/`` when they are not found.

    Attributes:
        data: uint8 array ``(N, 28, 28)``, shared (read-only) between instances reading the same file.
        targets: int64 array ``(N,)``, this instance's own copy.
        classes: the class names; ``class_to_idx`` maps them to labels.
    """

    classes: ClassVar[list[str]] = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]
    dataset_name = "mnist"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
    ):
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        images, labels, folder = _load_split(
            self.dataset_name, type(self).__name__, root, self.train, download, len(self.classes)
        )
        self.root = folder
        self.data = images
        self.targets = labels.astype(np.int64)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def _check_index(self, index) -> int:
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__}: expected an integer index, received {type(index).__name__}; "
                f"use get_batch(indices) for many samples"
            ) from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} is out of range for {len(self)} samples")
        return index

    def __getitem__(self, index) -> tuple:
        """``(image, label)``: the uint8 ``(28, 28)`` image (through ``transform``) and the int label."""
        index = self._check_index(index)
        image = self.data[index].copy()  # the shared array is read-only; the sample is the caller's to change
        label = int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def get_batch(self, indices) -> tuple:
        """``(images, labels)`` for many samples at once, without a Python loop over images.

        Images: ``ember.data.transforms.apply_batch(transform, data[indices])`` when a transform is set
        (a NumPy result is wrapped as a Tensor), else a uint8 Tensor ``(B, 28, 28)``. Labels: an int64 Tensor
        ``(B,)``, or ``target_transform`` applied to each label and the results collated.
        """
        if isinstance(indices, Tensor):
            indices = indices.numpy()
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.dtype.kind not in "iu" and indices.size):
            raise TypeError(
                f"{type(self).__name__}.get_batch: expected a 1-d sequence of integer indices, "
                f"received {indices.dtype} of shape {indices.shape}"
            )
        indices = indices.astype(np.int64, copy=False)
        outside = indices[(indices < -len(self)) | (indices >= len(self))]
        if outside.size:
            raise IndexError(
                f"{type(self).__name__}.get_batch: index {int(outside[0])} is out of range for {len(self)} samples"
            )
        images = self.data[indices]
        if self.transform is not None:
            from ..data.transforms import apply_batch

            images = apply_batch(self.transform, images)
        if isinstance(images, np.ndarray):
            images = Tensor(images)
        labels = self.targets[indices]
        if self.target_transform is None:
            return images, Tensor(labels)
        return images, _collate([self.target_transform(int(label)) for label in labels])

    def __repr__(self) -> str:
        lines = [
            f"Dataset {type(self).__name__}",
            f"    Number of datapoints: {len(self)}",
            f"    Root location: {self.root}",
            f"    Split: {'Train' if self.train else 'Test'}",
        ]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


def _collate(values: list):
    """Stack per-sample targets: Tensors with ``ember.stack``, numbers and arrays into one Tensor."""
    from ..functions.creation import tensor
    from ..functions.shape import stack

    if values and all(isinstance(value, Tensor) for value in values):
        return stack(values)
    return tensor(values)


def _load_npz(path: Path, display_name: str) -> tuple:
    """A Keras ``.npz`` archive with ``x_train``, ``y_train``, ``x_test``, ``y_test``."""
    with np.load(path, allow_pickle=False) as archive:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
        if missing:
            raise ValueError(f"{display_name}.load_data: '{path}' lacks the arrays {sorted(missing)}")
        return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])


def _load_keras(dataset_class: type, path) -> tuple:
    """Keras' ``load_data()``: ``((x_train, y_train), (x_test, y_test))``, fresh uint8 arrays, downloading if needed."""
    if path is not None and os.fspath(path).endswith(".npz"):
        # Keras names a cache file here (``path="mnist.npz"``): read it if it exists, else use the data root
        if Path(path).expanduser().is_file():
            return _load_npz(Path(path).expanduser(), dataset_class.__name__)
        path = None
    splits = []
    for train in (True, False):
        images, labels, _ = _load_split(
            dataset_class.dataset_name, dataset_class.__name__, path, train, True, len(dataset_class.classes)
        )
        splits.append((images.copy(), labels.copy()))
    return tuple(splits)


def load_data(path: str | os.PathLike | None = None) -> tuple:
    """Keras-style MNIST: ``((x_train, y_train), (x_test, y_test))`` as NumPy arrays.

    ``x_*`` are uint8 ``(N, 28, 28)``, ``y_*`` uint8 ``(N,)`` (60,000 and 10,000 samples), as
    ``keras.datasets.mnist.load_data`` returns them. ``path`` is the data root (default ``$EMBER_DATA``, else
    ``~/.cache/ember/datasets``); missing files are downloaded, as Keras does. A ``path`` ending in ``.npz``
    is Keras' cache file: read when it exists, otherwise the data root is used.
    """
    return _load_keras(MNIST, path)


def ensure_files(root: str | os.PathLike | None = None, dataset: str = "mnist") -> dict[str, Path]:
    """The paths of ``dataset``'s four files (``{name without .gz: path}``), downloading them on first use.

    Looks under the data root (``root``, else ``$EMBER_DATA``, else ``~/.cache/ember/datasets``) as every loader
    does; when the files are not there, says where they are going and fetches them (SHA-256 verified, written
    atomically, with a progress bar). Raises ``DownloadError`` when offline, naming ``EMBER_DATA`` and the
    files to place by hand.
    """
    display_name = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(dataset, dataset)
    try:
        return locate_files(dataset, ALL_FILES, root, display_name)
    except FileNotFoundError:
        pass
    print(f"{display_name}: files not found under the data root '{data_root(root)}'; downloading them into "
          f"{dataset_folder(dataset, root)} (set {ENV_VAR} to use a copy you already have)", file=sys.stderr)
    fetch(dataset, root)
    return locate_files(dataset, ALL_FILES, root, display_name)
