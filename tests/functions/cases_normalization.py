"""Op-table cases: batch_norm (training and evaluation), layer_norm, group_norm (and group norm followed by
SiLU in one node), instance_norm.

References are written here with NumPy from the definitions (biased variance for normalising).
"""
import numpy as np

import ember
from ember.functions.normalization import group_norm_silu

from .op_table import OpCase

EPS = 1e-5


def _normalize_ref(x, axes, eps=EPS):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batch_norm_train_ref(x, weight=None, bias=None):
    y = _normalize_ref(x, (0,) + tuple(range(2, x.ndim)))
    if weight is not None:
        y = y * _channel(weight, x.ndim)
    if bias is not None:
        y = y + _channel(bias, x.ndim)
    return y


def _batch_norm_eval_ref(x, mean, var, weight, bias):
    y = (x - _channel(mean, x.ndim)) / np.sqrt(_channel(var, x.ndim) + EPS)
    return y * _channel(weight, x.ndim) + _channel(bias, x.ndim)


def _inputs(x_shape, *param_shapes, positive_from=None):
    """Normal x and parameters; parameters from index ``positive_from`` on are positive (variances)."""

    def make(rng):
        arrays = [rng.standard_normal(x_shape) * 2.0 + 0.5]
        for index, shape in enumerate(param_shapes):
            if positive_from is not None and index >= positive_from:
                arrays.append(rng.uniform(0.5, 2.0, shape))
            else:
                arrays.append(rng.standard_normal(shape))
        return arrays

    return make


def _layer_norm_ref(x, weight, bias, dims):
    y = _normalize_ref(x, tuple(range(x.ndim - dims, x.ndim)))
    return y * weight + bias


def _group_norm_ref(x, weight, bias, groups):
    grouped = x.reshape(x.shape[0], groups, -1)
    y = _normalize_ref(grouped, (2,)).reshape(x.shape)
    return y * _channel(weight, x.ndim) + _channel(bias, x.ndim)


def _silu_ref(y):
    return y / (1 + np.exp(-y))


def _instance_norm_ref(x, weight, bias):
    y = _normalize_ref(x, tuple(range(2, x.ndim)))
    return y * _channel(weight, x.ndim) + _channel(bias, x.ndim)


CASES = [
    OpCase("batch_norm_train_2d_affine",
           lambda x, w, b: ember.batch_norm(x, None, None, w, b, training=True),
           _batch_norm_train_ref, _inputs((6, 3), (3,), (3,))),
    OpCase("batch_norm_train_2d_plain",
           lambda x: ember.batch_norm(x, None, None, training=True),
           _batch_norm_train_ref, _inputs((5, 4))),
    OpCase("batch_norm_train_3d_affine",
           lambda x, w, b: ember.batch_norm(x, None, None, w, b, training=True),
           _batch_norm_train_ref, _inputs((3, 2, 4), (2,), (2,))),
    OpCase("batch_norm_train_4d_affine",
           lambda x, w, b: ember.batch_norm(x, None, None, w, b, training=True),
           _batch_norm_train_ref, _inputs((3, 2, 2, 3), (2,), (2,))),
    OpCase("batch_norm_train_4d_plain",
           lambda x: ember.batch_norm(x, None, None, training=True),
           _batch_norm_train_ref, _inputs((2, 3, 2, 2))),
    OpCase("batch_norm_train_4d_weight_only",
           lambda x, w: ember.batch_norm(x, None, None, w, None, training=True),
           lambda x, w: _batch_norm_train_ref(x, w), _inputs((2, 2, 3, 2), (2,))),
    OpCase("batch_norm_train_4d_bias_only",
           lambda x, b: ember.batch_norm(x, None, None, None, b, training=True),
           lambda x, b: _batch_norm_train_ref(x, None, b), _inputs((2, 2, 3, 2), (2,))),
    # evaluation: running statistics are inputs too (the evaluation path is differentiable in them)
    OpCase("batch_norm_eval_2d",
           lambda x, w, b, m, v: ember.batch_norm(x, m, v, w, b, training=False),
           lambda x, w, b, m, v: _batch_norm_eval_ref(x, m, v, w, b),
           _inputs((4, 3), (3,), (3,), (3,), (3,), positive_from=3)),
    OpCase("batch_norm_eval_4d",
           lambda x, w, b, m, v: ember.batch_norm(x, m, v, w, b, training=False),
           lambda x, w, b, m, v: _batch_norm_eval_ref(x, m, v, w, b),
           _inputs((2, 3, 2, 2), (3,), (3,), (3,), (3,), positive_from=3)),
    OpCase("layer_norm_last_dim",
           lambda x, w, b: ember.layer_norm(x, (5,), w, b),
           lambda x, w, b: _layer_norm_ref(x, w, b, 1), _inputs((3, 5), (5,), (5,))),
    OpCase("layer_norm_int_shape_3d",
           lambda x, w, b: ember.layer_norm(x, 4, w, b),
           lambda x, w, b: _layer_norm_ref(x, w, b, 1), _inputs((2, 3, 4), (4,), (4,))),
    OpCase("layer_norm_two_dims",
           lambda x, w, b: ember.layer_norm(x, (3, 4), w, b),
           lambda x, w, b: _layer_norm_ref(x, w, b, 2), _inputs((2, 3, 4), (3, 4), (3, 4))),
    OpCase("layer_norm_plain",
           lambda x: ember.layer_norm(x, (2, 3)),
           lambda x: _normalize_ref(x, (1, 2)), _inputs((3, 2, 3))),
    OpCase("group_norm_4d",
           lambda x, w, b: ember.group_norm(x, 2, w, b),
           lambda x, w, b: _group_norm_ref(x, w, b, 2), _inputs((2, 4, 2, 2), (4,), (4,))),
    OpCase("group_norm_silu_4d",
           lambda x, w, b: group_norm_silu(x, 2, w, b),
           lambda x, w, b: _silu_ref(_group_norm_ref(x, w, b, 2)), _inputs((2, 4, 2, 2), (4,), (4,))),
    OpCase("group_norm_silu_3d_weight_only",
           lambda x, w: group_norm_silu(x, 3, w),
           lambda x, w: _silu_ref(_group_norm_ref(x, w, np.zeros(6), 3)), _inputs((3, 6, 5), (6,))),
    OpCase("group_norm_silu_plain",
           lambda x: group_norm_silu(x, 1),
           lambda x: _silu_ref(_group_norm_ref(x, np.ones(3), np.zeros(3), 1)), _inputs((2, 3, 2, 3))),
    OpCase("group_norm_silu_shift_4d",
           lambda x, w, b, s: group_norm_silu(x, 2, w, b, shift=s),
           lambda x, w, b, s: _silu_ref(_group_norm_ref(x + s[:, :, None, None], w, b, 2)),
           _inputs((3, 4, 2, 3), (4,), (4,), (3, 4))),
    OpCase("group_norm_silu_shift_only_3d",
           lambda x, s: group_norm_silu(x, 3, shift=s),
           lambda x, s: _silu_ref(_group_norm_ref(x + s[:, :, None], np.ones(6), np.zeros(6), 3)),
           _inputs((2, 6, 4), (2, 6))),
    OpCase("instance_norm_3d",
           lambda x, w, b: ember.instance_norm(x, weight=w, bias=b),
           _instance_norm_ref, _inputs((2, 3, 4), (3,), (3,))),
]
