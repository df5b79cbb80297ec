"""``tf.nn``: activations and the cross-entropies computed from logits, per example (no reduction)."""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ._tensor import InvalidArgumentError, Tensor, wrap
from .ops import _dtype_name, _pair, _require_float, _tensor, add, sigmoid, tanh

__all__ = ["relu", "relu6", "leaky_relu", "elu", "softmax", "log_softmax", "sigmoid", "tanh", "softplus",
           "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "sparse_softmax_cross_entropy_with_logits", "l2_loss", "bias_add"]


def relu(features, name=None):
    """``max(features, 0)``; integer tensors allowed."""
    x = _tensor(features)
    if x.array.dtype.kind != "f":
        return Tensor(np.maximum(x.array, 0))
    return wrap(F.relu(x))


def relu6(features, name=None):
    x = _tensor(features)
    _require_float("Relu6", x)
    return wrap(F.clamp(x, 0.0, 6.0))


def leaky_relu(features, alpha=0.2, name=None):
    """``x`` where positive, ``alpha * x`` elsewhere (TensorFlow's default alpha is 0.2)."""
    x = _tensor(features)
    _require_float("LeakyRelu", x)
    return wrap(F.leaky_relu(x, float(alpha)))


def elu(features, name=None):
    x = _tensor(features)
    _require_float("Elu", x)
    return wrap(F.elu(x))


def softplus(features, name=None):
    x = _tensor(features)
    _require_float("Softplus", x)
    return wrap(F.softplus(x))


def softmax(logits, axis=None, name=None):
    """``exp(logits) / sum(exp(logits))`` along ``axis`` (default: the last)."""
    x = _tensor(logits)
    _require_float("Softmax", x)
    return wrap(F.softmax(x, axis=-1 if axis is None else int(axis)))


def log_softmax(logits, axis=None, name=None):
    x = _tensor(logits)
    _require_float("LogSoftmax", x)
    return wrap(F.log_softmax(x, axis=-1 if axis is None else int(axis)))


def _labels_and_logits(op: str, labels, logits):
    if labels is None or logits is None:
        raise ValueError(f"{op}: pass labels= and logits= by name")
    labels, logits = _pair(op, labels, logits)
    _require_float(op, logits)
    if tuple(labels.shape) != tuple(logits.shape):
        raise ValueError(f"{op}: logits and labels must have the same shape, received logits {tuple(logits.shape)} "
                         f"and labels {tuple(labels.shape)}")
    return labels, logits


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Per-element ``-z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))`` for labels ``z`` and logits ``x``.

    Computed as TensorFlow does, ``max(x, 0) - x z + log(1 + exp(-|x|))``, stable for any ``x``; gradients
    reach both logits and labels. Shapes: labels and logits alike; the result has that shape too.
    """
    labels, logits = _labels_and_logits("SigmoidCrossEntropyWithLogits", labels, logits)
    positive = Tensor(np.asarray(logits.array) >= 0)
    # where() picks a branch per element, so that at x = 0 the gradient is sigmoid(0) - z, as TensorFlow's
    relu_logits = F.where(positive, logits, F.zeros_like(logits))
    negative_abs_logits = F.where(positive, F.neg(logits), logits)
    return wrap(F.add(F.sub(relu_logits, F.mul(logits, labels)), F.log1p(F.exp(negative_abs_logits))))


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None):
    """``-sum(labels * log_softmax(logits), axis)``: one loss per example (shape: logits' without ``axis``).

    Gradients reach logits and labels (TensorFlow 2's behaviour).
    """
    labels, logits = _labels_and_logits("SoftmaxCrossEntropyWithLogits", labels, logits)
    return wrap(F.neg(F.sum(F.mul(labels, F.log_softmax(logits, axis=int(axis))), axis=int(axis))))


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Cross-entropy of integer class ``labels`` (shape ``S``) against ``logits`` (shape ``S + (C,)``)."""
    if labels is None or logits is None:
        raise ValueError("SparseSoftmaxCrossEntropyWithLogits: pass labels= and logits= by name")
    labels, logits = _tensor(labels), _tensor(logits)
    _require_float("SparseSoftmaxCrossEntropyWithLogits", logits)
    if labels.array.dtype.kind not in "iu":
        raise InvalidArgumentError(f"SparseSoftmaxCrossEntropyWithLogits: labels must be int32 or int64, received "
                                   f"{_dtype_name(labels)}")
    if logits.ndim < 1 or tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise InvalidArgumentError(f"SparseSoftmaxCrossEntropyWithLogits: labels of shape {tuple(labels.shape)} "
                                   f"must have the shape of logits {tuple(logits.shape)} without its last axis")
    classes = logits.shape[-1]
    values = np.asarray(labels.array)
    if values.size and (values.min() < 0 or values.max() >= classes):
        bad = values.min() if values.min() < 0 else values.max()
        raise InvalidArgumentError(f"Received a label value of {bad} which is outside the valid range of "
                                   f"[0, {classes}).")
    flat = F.cross_entropy(F.reshape(logits, -1, classes), Tensor(values.reshape(-1).astype(np.int64)),
                           reduction="none")
    return wrap(F.reshape(flat, *labels.shape) if labels.ndim else F.reshape(flat, ()))


def l2_loss(t, name=None):
    """``sum(t ** 2) / 2``."""
    x = _tensor(t)
    _require_float("L2Loss", x)
    return wrap(F.div(F.sum(F.square(x)), Tensor(np.asarray(2, x.array.dtype))))


def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` with ``bias`` on the last axis (or the channel axis with data_format="NCHW")."""
    value, bias = _tensor(value), _tensor(bias)
    if data_format is not None and data_format.startswith("NC"):
        bias = F.reshape(bias, -1, *([1] * (value.ndim - 2)))
    return add(value, bias)


_ = (sigmoid, tanh)  # tf.nn.sigmoid, tf.nn.tanh are the top-level ops
