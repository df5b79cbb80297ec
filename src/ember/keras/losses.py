"""Keras losses: per-sample values reduced to the mean over the batch ("sum_over_batch_size").

Cross-entropies take ``from_logits``: with logits they use log-softmax/log-sigmoid (stable); with
probabilities they clip to ``[1e-7, 1 - 1e-7]`` as Keras does. As in Keras, probabilities that are the very
output of Ember's ``softmax`` (categorical and sparse categorical) or ``sigmoid`` (binary) are replaced by
the logits they were computed from (``ember.functions.activation.logits_of``): a model ending in
``Dense(10, activation="softmax")`` trains and evaluates from its logits, whether the loss is called by
``fit`` or by the user, so that ``exp(-150) == 0`` in float32 never becomes ``log(0)``.
"""
from __future__ import annotations

import warnings

from .. import functions as F
from ..autograd.tensor import Tensor
from ..functions.activation import logits_of

EPSILON = 1e-7


def _as_tensor(value, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    tensor = F.tensor(value)
    return tensor.to(like.device) if like is not None and like.device != tensor.device else tensor


def _float_target(y_true: Tensor, y_pred: Tensor) -> Tensor:
    return y_true if y_true.dtype == y_pred.dtype else y_true.to(y_pred.dtype)


def _logits_behind(name: str, y_pred: Tensor, from_logits: bool, activation: str, axis: int = -1):
    """``(y_pred, from_logits)`` to compute with: the logits and True when ``y_pred`` is the output of
    ``activation`` (softmax over ``axis``, or sigmoid), else ``y_pred`` unchanged."""
    logits = logits_of(y_pred, activation, axis)
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(
            f"{name}: received from_logits=True, but y_pred is the output of a {activation}, so it holds "
            f"probabilities; the loss uses the {activation}'s input (the logits) instead. Was this intended?",
            UserWarning, stacklevel=3,
        )
    return logits, True


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> Tensor:
    """Per-sample ``-sum(y_true * log(p))`` over ``axis``; ``y_true`` one-hot (or soft) like ``y_pred``.

    ``y_pred`` holds probabilities, or logits with ``from_logits=True``; the output of Ember's softmax over
    ``axis`` is read through its logits (see the module's docstring)."""
    y_pred = _as_tensor(y_pred)
    y_true = _float_target(_as_tensor(y_true, y_pred), y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"categorical_crossentropy: y_true shape {tuple(y_true.shape)} must equal y_pred shape "
            f"{tuple(y_pred.shape)} (use sparse_categorical_crossentropy for integer labels)"
        )
    y_pred, from_logits = _logits_behind("categorical_crossentropy", y_pred, from_logits, "softmax", axis)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    if from_logits:
        log_probabilities = F.log_softmax(y_pred, dim=axis)
    else:
        probabilities = y_pred / y_pred.sum(dim=axis, keepdim=True)
        log_probabilities = probabilities.clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true * log_probabilities).sum(dim=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None,
                                    axis: int = -1) -> Tensor:
    """Per-sample cross-entropy with integer class labels ``y_true`` (shape ``y_pred.shape[:-1]`` or with a
    trailing 1). The output of Ember's softmax over the last axis is read through its logits."""
    y_pred = _as_tensor(y_pred)
    y_true = _as_tensor(y_true, y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(tuple(y_true.shape[:-1]))
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(
            f"sparse_categorical_crossentropy: expected integer labels of shape {tuple(y_pred.shape[:-1])} for "
            f"predictions {tuple(y_pred.shape)}, received {tuple(y_true.shape)}"
        )
    labels = y_true if y_true.dtype.kind in "iu" else y_true.to("int64")
    if labels.dtype != "int64":
        labels = labels.to("int64")
    if axis != -1 and axis != y_pred.ndim - 1:
        raise ValueError("sparse_categorical_crossentropy: only axis=-1 is supported")
    y_pred, from_logits = _logits_behind("sparse_categorical_crossentropy", y_pred, from_logits, "softmax")
    logits = y_pred if from_logits else y_pred.clamp(EPSILON, 1.0 - EPSILON).log()
    moved = logits.movedim(-1, 1) if logits.ndim > 2 else logits
    if from_logits:
        return F.cross_entropy(moved, labels, reduction="none",
                               ignore_index=-100 if ignore_class is None else ignore_class)
    return F.nll_loss(moved, labels, reduction="none", ignore_index=-100 if ignore_class is None else ignore_class)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> Tensor:
    """Per-sample binary cross-entropy, averaged over the last axis. The output of Ember's sigmoid is read
    through its logits."""
    y_pred = _as_tensor(y_pred)
    y_true = _float_target(_as_tensor(y_true, y_pred), y_pred)
    y_pred, from_logits = _logits_behind("binary_crossentropy", y_pred, from_logits, "sigmoid")
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = F.binary_cross_entropy_with_logits(y_pred, y_true.expand_as(y_pred), reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        elementwise = -(y_true * p.log() + (1.0 - y_true) * (1.0 - p).log())
    return elementwise.mean(dim=axis)


def mean_squared_error(y_true, y_pred) -> Tensor:
    y_pred = _as_tensor(y_pred)
    y_true = _float_target(_as_tensor(y_true, y_pred), y_pred)
    return ((y_pred - y_true) ** 2).mean(dim=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    y_pred = _as_tensor(y_pred)
    y_true = _float_target(_as_tensor(y_true, y_pred), y_pred)
    return (y_pred - y_true).abs().mean(dim=-1)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """``0.5 e²`` where ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``; mean over the last axis."""
    y_pred = _as_tensor(y_pred)
    y_true = _float_target(_as_tensor(y_true, y_pred), y_pred)
    error = (y_pred - y_true).abs()
    quadratic = error.clamp(max=delta)
    return (quadratic * quadratic * 0.5 + (error - quadratic) * delta).mean(dim=-1)


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` → scalar Tensor (mean over the batch)."""

    function = None

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, **options):
        if reduction not in ("sum_over_batch_size", "auto", "sum", "none", "mean"):
            raise ValueError(f"{type(self).__name__}: unknown reduction {reduction!r}")
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)
        self.options = options

    def call(self, y_true, y_pred) -> Tensor:
        return type(self).function(y_true, y_pred, **self.options)

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        per_sample = self.call(y_true, y_pred)
        if sample_weight is not None:
            weight = _as_tensor(sample_weight, per_sample).to(per_sample.dtype)
            while weight.ndim < per_sample.ndim:
                weight = weight.unsqueeze(-1)
            per_sample = per_sample * weight
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return per_sample.sum()
        return per_sample.mean()

    @property
    def from_logits(self) -> bool:
        return bool(self.options.get("from_logits", False))

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "name": self.name, **self.options}


def _snake(name: str) -> str:
    from .layers.base import to_snake_case

    return to_snake_case(name)


class CategoricalCrossentropy(Loss):
    function = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    function = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits, ignore_class=ignore_class)


class BinaryCrossentropy(Loss):
    function = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class MeanSquaredError(Loss):
    function = staticmethod(mean_squared_error)


class MeanAbsoluteError(Loss):
    function = staticmethod(mean_absolute_error)


class Huber(Loss):
    function = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name, delta=delta)


class _FunctionLoss(Loss):
    """Wraps a user function ``fn(y_true, y_pred) -> per-sample Tensor``."""

    def __init__(self, function, name=None):
        super().__init__(name=name or getattr(function, "__name__", "loss"))
        self._function = function

    def call(self, y_true, y_pred):
        return self._function(y_true, y_pred)


mse, mae = mean_squared_error, mean_absolute_error
MSE, MAE = mean_squared_error, mean_absolute_error

_ALIASES = {
    "categorical_crossentropy": CategoricalCrossentropy, "sparse_categorical_crossentropy":
    SparseCategoricalCrossentropy, "binary_crossentropy": BinaryCrossentropy, "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
}
_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}
_FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy, sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError, huber: Huber,
}


def get(identifier) -> Loss:
    """A Loss object from a name (``"sparse_categorical_crossentropy"``), an object, a class, or a function."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        if identifier in _ALIASES:
            return _ALIASES[identifier]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"losses.get: unknown loss {identifier!r}; expected one of {sorted(_ALIASES)}")
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if isinstance(identifier, dict):
        return _CLASSES[identifier["class_name"]](**identifier.get("config", {}))
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise TypeError(f"losses.get: expected a loss name, Loss or callable, received {type(identifier).__name__}")
