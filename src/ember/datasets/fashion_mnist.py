"""Fashion-MNIST, Zalando's clothing images: ``FashionMNIST`` (torchvision-style) and ``load_data()`` (Keras-style).

A drop-in for MNIST with the same shapes (28x28 uint8, 60,000 training and 10,000 test images, 10 classes);
its files live in ``<data root>/fashion-mnist/`` (or torchvision's ``FashionMNIST/raw/``).
"""
from __future__ import annotations

import os
from typing import ClassVar

from .mnist import MNIST, _load_keras

__all__ = ["FashionMNIST", "load_data"]


class FashionMNIST(MNIST):
    """Fashion-MNIST, as ``torchvision.datasets.FashionMNIST``; arguments and attributes as :class:`MNIST`.

    Files are searched in ``<root>/fashion-mnist/``, ``<root>/FashionMNIST/raw/`` and ``<root>``, and
    downloaded into ``<root>/fashion-mnist/`` with ``download=True``.
    """

    classes: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    dataset_name = "fashion-mnist"


def load_data(path: str | os.PathLike | None = None) -> tuple:
    """Keras-style Fashion-MNIST: ``((x_train, y_train), (x_test, y_test))``, uint8 arrays as Keras returns them.

    ``x_*`` are ``(N, 28, 28)``, ``y_*`` ``(N,)``. ``path`` is the data root (default ``$EMBER_DATA``, else
    ``~/.cache/ember/datasets``); missing files are downloaded, as Keras does. A ``path`` ending in ``.npz``
    is read as a Keras archive when it exists, and otherwise means the default data root.
    """
    return _load_keras(FashionMNIST, path)
