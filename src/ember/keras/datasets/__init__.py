"""``keras.datasets``: ``mnist.load_data()``, ``fashion_mnist.load_data()`` and ``cifar10.load_data()`` return
``(x_train, y_train), (x_test, y_test)`` as uint8 NumPy arrays, as Keras's do.

The files come from Ember's data root (``$EMBER_DATA``, else ``~/.cache/ember/datasets``) and are downloaded
there on first use with their SHA-256 checked (``ember.datasets.download``).
"""
from . import cifar10, fashion_mnist, mnist

__all__ = ["mnist", "fashion_mnist", "cifar10"]
