"""Keras utilities: ``set_random_seed``, ``to_categorical``, ``clear_session``."""
from __future__ import annotations

import numpy as np

from ..backend.random import manual_seed
from .layers.base import clear_session


def set_random_seed(seed: int) -> None:
    """Seed every generator Ember uses (the same as ``ember.manual_seed``)."""
    manual_seed(seed)


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels: shape ``y.shape + (num_classes,)``."""
    y = np.asarray(y.array if hasattr(y, "array") and not isinstance(y, np.ndarray) else y)
    if y.ndim and y.shape[-1] == 1 and y.ndim > 1:
        y = y.reshape(y.shape[:-1])
    labels = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}), received min {labels.min()} "
                         f"max {labels.max()}")
    result = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(result, labels[..., None], 1, axis=-1)
    return result


__all__ = ["set_random_seed", "to_categorical", "clear_session"]
