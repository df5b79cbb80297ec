"""TensorFlow 2's low-level API over Ember's core: code written for TensorFlow's eager mode runs after
``import ember.tensorflow as tf``.

    import ember.tensorflow as tf
    w = tf.Variable(tf.random.normal((3, 1)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(x @ w - y))
    w.assign_sub(0.1 * tape.gradient(loss, w))

Tensors are ``ember.Tensor``s (Ember's graph records every op; Ember's engine computes the gradients) that
look and behave as TensorFlow's: ``TensorShape`` shapes, ``DType`` dtypes, TensorFlow's dtype rules and
printing. ``tf.keras`` is ``ember.keras``; ``tf.data`` wraps ``ember.data`` so that datasets yield tensors.
What differs from TensorFlow is listed in docs/tensorflow.md.
"""
from __future__ import annotations

import builtins

from . import config, io, nn, random
from ._tensor import (
    DType, InvalidArgumentError, Tensor, TensorShape, as_dtype, bool, constant, convert_to_tensor, double, float16,
    float32, float64, half, int8, int16, int32, int64, string, uint8, uint16,
)
from .gradient_tape import GradientTape, UnconnectedGradients
from .ops import (
    abs, add, argmax, argmin, cast, ceil, clip_by_value, concat, cos, cumsum, divide, equal, exp, expand_dims, eye,
    fill, floor, floordiv, gather, greater, greater_equal, identity, less, less_equal, linspace, log, log1p,
    logical_and, logical_not, logical_or, matmul, maximum, minimum, multiply, negative, not_equal, one_hot, ones,
    ones_like, pow, range, rank, reduce_all, reduce_any, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
    reduce_prod, reduce_std, reduce_sum, reduce_variance, reshape, round, rsqrt, shape, sigmoid, sign, sin, size,
    sqrt, square, squeeze, stack, subtract, tanh, tensordot, tile, transpose, truediv, unstack, where, zeros,
    zeros_like, install_operators as _install_operators,
)
from .ops import print_ as print  # noqa: A004 - tf.print
from .variables import Variable
from . import data, dtypes, errors, math

_install_operators()

__all__ = [
    "config", "io", "nn", "random", "DType", "InvalidArgumentError", "Tensor", "TensorShape", "as_dtype", "bool",
    "constant", "convert_to_tensor", "double", "float16", "float32", "float64", "half", "int8", "int16", "int32",
    "int64", "string", "uint8", "uint16", "GradientTape", "UnconnectedGradients", "abs", "add", "argmax", "argmin",
    "cast", "ceil", "clip_by_value", "concat", "cos", "cumsum", "divide", "equal", "exp", "expand_dims", "eye",
    "fill", "floor", "floordiv", "gather", "greater", "greater_equal", "identity", "less", "less_equal", "linspace",
    "log", "log1p", "logical_and", "logical_not", "logical_or", "matmul", "maximum", "minimum", "multiply",
    "negative", "not_equal", "one_hot", "ones", "ones_like", "pow", "range", "rank", "reduce_all", "reduce_any",
    "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_std", "reduce_sum",
    "reduce_variance", "reshape", "round", "rsqrt", "shape", "sigmoid", "sign", "sin", "size", "sqrt", "square",
    "squeeze", "stack", "subtract", "tanh", "tensordot", "tile", "transpose", "truediv", "unstack", "where",
    "zeros", "zeros_like", "print", "Variable", "data", "dtypes", "errors", "math", "ember_tensor", "newaxis",
    "executing_eagerly", "function", "is_tensor", "keras", "optimizers", "losses", "metrics", "initializers",
    "activations", "enable_eager_execution", "decode_raw",
]

__version__ = "2.16.0+ember"  # the TensorFlow API this dialect follows, then where it comes from
newaxis = None


def executing_eagerly() -> builtins.bool:
    """Always True: Ember runs every op as it is called."""
    return True


def enable_eager_execution(config=None, device_policy=None, execution_mode=None) -> None:
    """TensorFlow 1.x's switch to eager mode, still called by notebooks written for TensorFlow 1.14: no effect,
    Ember always runs eagerly."""


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """TensorFlow 1.x's name of ``tf.io.decode_raw`` (TensorFlow 2: ``tf.compat.v1.decode_raw``)."""
    return io.decode_raw(input_bytes, out_type, little_endian, fixed_length, name)


def function(func=None, input_signature=None, autograph=True, jit_compile=None, reduce_retracing=False,
             experimental_compile=None, **kwargs):
    """``@tf.function`` (with or without arguments) returns the function unchanged: Ember runs eagerly."""
    if func is None:
        return lambda inner: inner
    return func


def is_tensor(value) -> builtins.bool:
    from ..autograd.tensor import Tensor as ember_tensor

    return isinstance(value, (ember_tensor, Variable))


def __getattr__(name):
    """``tf.keras`` (and TensorFlow 2's aliases ``tf.optimizers``, ``tf.losses``...) are Ember's Keras."""
    import importlib

    if name == "keras":
        return importlib.import_module("ember.keras")
    if name in ("optimizers", "losses", "metrics", "initializers", "activations"):
        return getattr(importlib.import_module("ember.keras"), name)
    raise AttributeError(f"module 'ember.tensorflow' has no attribute {name!r}")


