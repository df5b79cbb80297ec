"""Keras metrics: stateful objects accumulated over an epoch (``update_state``, ``result``, ``reset_state``).

They read detached prediction arrays (NumPy or CuPy) and keep running sums on the same device; ``result()``
returns a Python float. ``"accuracy"`` picks binary, categorical or sparse-categorical accuracy from the loss
and the shapes, as Keras does.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend.device import get_array_module
from ._ignored import warn_no_effect


def _array(value):
    if isinstance(value, Tensor):
        return value.array
    return value if hasattr(value, "dtype") and hasattr(value, "shape") else np.asarray(value)


class Metric:
    """Base class: subclasses implement ``update_state(y_true, y_pred, sample_weight=None)``."""

    def __init__(self, name: str | None = None, dtype=None):
        from .layers.base import to_snake_case

        if dtype is not None and np.dtype(dtype) != np.float32:
            warn_no_effect(type(self).__name__, "dtype", dtype,
                           "metrics accumulate in float32 and result() returns a Python float")
        self.name = name or to_snake_case(type(self).__name__)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def _accumulate(self, values, sample_weight) -> None:
        xp = get_array_module(values)
        values = values.astype(np.float32, copy=False)
        if sample_weight is not None:
            weight = xp.asarray(_array(sample_weight), dtype=np.float32)
            weight = weight.reshape(values.shape[:1] + (1,) * (values.ndim - 1))
            weight = xp.broadcast_to(weight, values.shape)
            self.total = self.total + (values * weight).sum()
            self.count = self.count + weight.sum()
        else:
            self.total = self.total + values.sum()
            self.count = self.count + values.size

    def result(self) -> float:
        count = float(self.count)
        return float(self.total) / count if count else 0.0

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}


class Mean(Metric):
    """Weighted mean of the values given to ``update_state(values, sample_weight=None)``."""

    def update_state(self, values, sample_weight=None) -> None:
        values = _array(values)
        xp = get_array_module(values)
        values = xp.asarray(values, dtype=np.float32).reshape(-1)
        if sample_weight is None:
            self.total = self.total + values.sum()
            self.count = self.count + values.size
        else:
            weight = xp.asarray(_array(sample_weight), dtype=np.float32).reshape(-1)
            self.total = self.total + (values * weight).sum()
            self.count = self.count + weight.sum()


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose argmax prediction equals the integer label."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        if y_true.ndim == y_pred.ndim:
            y_true = y_true.reshape(y_true.shape[:-1])
        matches = y_pred.argmax(axis=-1) == y_true.astype(np.int64, copy=False)
        self._accumulate(matches, sample_weight)


class CategoricalAccuracy(Metric):
    """Fraction of samples whose argmax prediction equals the argmax of the one-hot label."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        self._accumulate(y_pred.argmax(axis=-1) == y_true.argmax(axis=-1), sample_weight)


class BinaryAccuracy(Metric):
    """Fraction of predictions on the right side of ``threshold`` (0.5)."""

    def __init__(self, name=None, dtype=None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        matches = (y_pred > self.threshold) == (y_true > 0.5)
        self._accumulate(matches.reshape(matches.shape[0], -1).mean(axis=-1), sample_weight)


class Accuracy(Metric):
    """Fraction of predictions exactly equal to the labels."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        self._accumulate((y_true == y_pred).reshape(y_true.shape[0], -1).mean(axis=-1), sample_weight)


class MeanSquaredError(Metric):
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        error = (y_pred - y_true.reshape(y_pred.shape)) ** 2
        self._accumulate(error.reshape(error.shape[0], -1).mean(axis=-1), sample_weight)


class MeanAbsoluteError(Metric):
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        error = abs(y_pred - y_true.reshape(y_pred.shape))
        self._accumulate(error.reshape(error.shape[0], -1).mean(axis=-1), sample_weight)


class AUC(Metric):
    """Area under the ROC curve for binary labels, from all predictions seen this epoch (exact, rank-based).

    With ``sample_weight``, each pair of a positive and a negative counts with the product of their weights
    (ties count half), so integer weights give the AUC of the repeated samples."""

    def reset_state(self):
        self.labels, self.scores, self.weights = [], [], []

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _host(_array(y_true)), _host(_array(y_pred))
        weights = np.ones(y_pred.shape, dtype=np.float64)
        if sample_weight is not None:
            weight = _host(_array(sample_weight)).astype(np.float64)
            weights = weights * weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim))
        self.labels.append(y_true.reshape(-1))
        self.scores.append(y_pred.reshape(-1))
        self.weights.append(weights.reshape(-1))

    def result(self) -> float:
        if not self.labels:
            return 0.0
        labels = np.concatenate(self.labels) > 0.5
        scores = np.concatenate(self.scores)
        weights = np.concatenate(self.weights)
        positive_weight = np.where(labels, weights, 0.0)
        negative_weight = np.where(labels, 0.0, weights)
        total_positive, total_negative = positive_weight.sum(), negative_weight.sum()
        if total_positive == 0 or total_negative == 0:
            return 0.0
        # group equal scores; a positive beats the negatives of lower groups and ties with half of its own
        distinct, group = np.unique(scores, return_inverse=True)
        positives = np.bincount(group, positive_weight, minlength=len(distinct))
        negatives = np.bincount(group, negative_weight, minlength=len(distinct))
        negatives_below = np.cumsum(negatives) - negatives
        return float((positives * (negatives_below + 0.5 * negatives)).sum() / (total_positive * total_negative))


def _host(array) -> np.ndarray:
    return np.asarray(array.get() if hasattr(array, "get") else array)


_ALIASES = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy, "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError, "auc": AUC, "AUC": AUC,
}


def get(identifier, loss=None, y_true=None, y_pred=None) -> Metric:
    """Resolve a metric name; ``"accuracy"``/``"acc"`` depends on the loss (and on shapes when undecided)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if identifier in ("accuracy", "acc"):
        metric = _accuracy_for(loss, y_true, y_pred)
        metric.name = identifier
        return metric
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    raise ValueError(f"metrics.get: unknown metric {identifier!r}; expected 'accuracy' or one of {sorted(_ALIASES)}")


def _accuracy_for(loss, y_true, y_pred) -> Metric:
    from . import losses

    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        metric = SparseCategoricalAccuracy()
    elif isinstance(loss, losses.CategoricalCrossentropy):
        metric = CategoricalAccuracy()
    elif isinstance(loss, losses.BinaryCrossentropy) or (y_pred is not None and y_pred.shape[-1] == 1):
        metric = BinaryAccuracy()
    elif y_true is not None and y_pred is not None and tuple(y_true.shape) == tuple(y_pred.shape):
        metric = CategoricalAccuracy()
    else:
        metric = SparseCategoricalAccuracy()
    return metric
