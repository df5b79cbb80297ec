"""``keras.datasets.fashion_mnist``: ``load_data(path=None)`` -> ``(x_train, y_train), (x_test, y_test)``, uint8
arrays (60,000 and 10,000 clothing images of 28×28, labels 0–9), from Ember's data root, downloaded on first use."""
from ...datasets.fashion_mnist import load_data

__all__ = ["load_data"]
