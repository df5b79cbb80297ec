"""``tf.random``: normal and uniform draws from Ember's generator (seeded by ``set_seed``)."""
from __future__ import annotations

import numpy as np

from ..backend import random as ember_random
from ._tensor import InvalidArgumentError, Tensor, as_dtype, float32
from .ops import _ints

__all__ = ["set_seed", "normal", "uniform", "truncated_normal", "shuffle"]


def set_seed(seed: int) -> None:
    """Seed every generator Ember uses (``ember.manual_seed``)."""
    ember_random.manual_seed(int(seed))


def _generator(seed):
    """An op-level ``seed`` gives its own generator (the same numbers on every call), as a stateless op."""
    return np.random.default_rng(int(seed)) if seed is not None else ember_random.generator()


def _float(dtype, op: str):
    numpy_dtype = as_dtype(dtype).dtype
    if numpy_dtype.kind != "f":
        raise InvalidArgumentError(f"{op}: dtype must be floating, received {as_dtype(dtype).name}")
    return numpy_dtype


def normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    """Draws from N(mean, stddev**2) of ``shape`` (float32 by default)."""
    numpy_dtype = _float(dtype, "random.normal")
    values = _generator(seed).standard_normal(_ints(shape))
    return Tensor((values * float(np.asarray(stddev)) + float(np.asarray(mean))).astype(numpy_dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None):
    """Normal draws, those beyond two standard deviations drawn again."""
    numpy_dtype = _float(dtype, "random.truncated_normal")
    generator = _generator(seed)
    values = generator.standard_normal(_ints(shape))
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = generator.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return Tensor((values * float(np.asarray(stddev)) + float(np.asarray(mean))).astype(numpy_dtype))


def uniform(shape, minval=0, maxval=None, dtype=float32, seed=None, name=None):
    """Draws from [minval, maxval) (maxval defaults to 1 for floats; integers need it)."""
    numpy_dtype = as_dtype(dtype).dtype
    generator = _generator(seed)
    if numpy_dtype.kind in "iu":
        if maxval is None:
            raise ValueError("random.uniform: maxval must be given for an integer dtype")
        return Tensor(generator.integers(int(minval), int(maxval), _ints(shape)).astype(numpy_dtype))
    low, high = float(np.asarray(minval)), 1.0 if maxval is None else float(np.asarray(maxval))
    return Tensor(generator.uniform(low, high, _ints(shape)).astype(numpy_dtype))


def shuffle(value, seed=None, name=None):
    """``value`` with its first axis in a random order."""
    from ._tensor import convert_to_tensor

    array = np.asarray(convert_to_tensor(value).array)
    return Tensor(array[_generator(seed).permutation(array.shape[0])] if array.ndim else array.copy())
