"""Op-table cases: activations, erf, softmax and log_softmax (inputs kept away from kinks)."""
import math

import numpy as np

import ember

from .op_table import OpCase, away_from, randn

_erf = np.vectorize(math.erf)


def _scaled(scale, *shape):
    return lambda rng: [rng.standard_normal(shape) * scale]


def _np_softmax(x, axis):
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(x))


def _np_softplus(x, beta, threshold):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _kinks(*points, scale=3.0, shape=(4, 5)):
    maker = _scaled(scale, *shape)
    for point in points:
        maker = away_from(point)(maker)
    return maker


CASES = [
    OpCase("tanh", ember.tanh, np.tanh, randn(3, 4)),
    OpCase("tanh_method_0d", lambda x: x.tanh(), np.tanh, randn()),
    OpCase("sigmoid", ember.sigmoid, lambda x: 1 / (1 + np.exp(-x)), randn(3, 4)),
    OpCase("sigmoid_large", ember.sigmoid, lambda x: 1 / (1 + np.exp(-x)), _scaled(15.0, 3, 4)),
    OpCase("relu", ember.relu, lambda x: np.maximum(x, 0), away_from(0.0)(randn(3, 4))),
    OpCase("relu_method_0d", lambda x: x.relu(), lambda x: np.maximum(x, 0), away_from(0.0)(randn())),
    OpCase("relu6", ember.relu6, lambda x: np.clip(x, 0, 6), _kinks(0.0, 6.0)),
    OpCase("hardtanh", lambda x: ember.hardtanh(x, -1.0, 2.0), lambda x: np.clip(x, -1, 2), _kinks(-1.0, 2.0)),
    OpCase("leaky_relu", ember.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), away_from(0.0)(randn(3, 4))),
    OpCase("leaky_relu_slope", lambda x: ember.leaky_relu(x, negative_slope=0.2),
           lambda x: np.where(x > 0, x, 0.2 * x), away_from(0.0)(randn(3, 4))),
    OpCase("elu", ember.elu, lambda x: _np_elu(x, 1.0), away_from(0.0)(randn(3, 4))),
    OpCase("elu_alpha", lambda x: ember.elu(x, alpha=0.5), lambda x: _np_elu(x, 0.5), away_from(0.0)(randn(3, 4))),
    OpCase("gelu", ember.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), _scaled(2.0, 3, 4)),
    OpCase("gelu_tanh", lambda x: ember.gelu(x, approximate="tanh"), _np_gelu_tanh, _scaled(2.0, 3, 4)),
    OpCase("softplus", ember.softplus, lambda x: _np_softplus(x, 1.0, 20.0), _scaled(3.0, 3, 4)),
    OpCase("softplus_beta_threshold", lambda x: ember.softplus(x, beta=2.0, threshold=1.0),
           lambda x: _np_softplus(x, 2.0, 1.0), away_from(0.5, 0.2)(randn(3, 4))),
    OpCase("silu", ember.silu, lambda x: x / (1 + np.exp(-x)), _scaled(2.0, 3, 4)),
    OpCase("erf", ember.erf, _erf, _scaled(1.5, 4, 5)),
    OpCase("erf_tails", ember.erf, _erf, lambda rng: [rng.uniform(2.0, 5.0, (10,)) * rng.choice([-1.0, 1.0], 10)]),
    OpCase("softmax_last", lambda x: x.softmax(-1), lambda x: _np_softmax(x, -1), randn(2, 3, 4)),
    OpCase("softmax_dim0", lambda x: ember.softmax(x, dim=0), lambda x: _np_softmax(x, 0), randn(2, 3, 4)),
    OpCase("softmax_dim1_large", lambda x: ember.softmax(x, 1), lambda x: _np_softmax(x, 1), _scaled(30.0, 2, 3, 4)),
    OpCase("softmax_0d", lambda x: ember.softmax(x, 0), lambda x: np.ones_like(x), randn()),
    OpCase("log_softmax_last", lambda x: x.log_softmax(-1), lambda x: _np_log_softmax(x, -1), randn(2, 3, 4)),
    OpCase("log_softmax_dim1", lambda x: ember.log_softmax(x, dim=1), lambda x: _np_log_softmax(x, 1),
           randn(2, 3, 4)),
    OpCase("log_softmax_large", lambda x: ember.log_softmax(x, -1), lambda x: _np_log_softmax(x, -1),
           _scaled(50.0, 3, 4)),
    OpCase("log_softmax_axis_alias", lambda x: ember.log_softmax(x, axis=0), lambda x: _np_log_softmax(x, 0),
           randn(3, 4)),
]

CASES += [
    OpCase("mish", ember.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), _scaled(2.0, 3, 4)),
]
