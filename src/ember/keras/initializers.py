"""Keras weight initializers (``"glorot_uniform"``, ``"he_normal"``, ``"zeros"``, …) drawing from Ember's seeded
generator in float32.

Fans follow Keras: a Dense kernel ``(in, out)`` has fan_in=in, fan_out=out; a Conv2D kernel ``(kh, kw, in, out)``
has fan_in=kh·kw·in, fan_out=kh·kw·out.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import dtypes
from ..backend import random as ember_random


def compute_fans(shape) -> tuple[int, int]:
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Callable ``initializer(shape, dtype) -> numpy array``; ``get_config()`` for saving."""

    def __call__(self, shape, dtype=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtypes.to_numpy_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        draws = _generator(self.seed).random(tuple(shape), dtype=np.float32)
        return (draws * (self.maxval - self.minval) + self.minval).astype(dtypes.to_numpy_dtype(dtype), copy=False)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        draws = _generator(self.seed).standard_normal(tuple(shape), dtype=np.float32)
        return (draws * self.stddev + self.mean).astype(dtypes.to_numpy_dtype(dtype), copy=False)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal draws re-drawn until they lie within two standard deviations of the mean."""

    def __call__(self, shape, dtype=None):
        generator = _generator(self.seed)
        draws = generator.standard_normal(tuple(shape), dtype=np.float32)
        outside = np.abs(draws) > 2
        while outside.any():
            draws[outside] = generator.standard_normal(int(outside.sum()), dtype=np.float32)
            outside = np.abs(draws) > 2
        return (draws * self.stddev + self.mean).astype(dtypes.to_numpy_dtype(dtype), copy=False)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan (fan_in, fan_out or their mean), normal (truncated) or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, received {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return RandomUniform(-limit, limit, self.seed)(shape, dtype)
        if self.distribution == "untruncated_normal":
            return RandomNormal(0.0, math.sqrt(variance), self.seed)(shape, dtype)
        # 0.8796... is the std of a unit normal truncated to [-2, 2]
        return TruncatedNormal(0.0, math.sqrt(variance) / 0.87962566103423978, self.seed)(shape, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """Keras's Orthogonal: a (semi-)orthogonal matrix from the QR decomposition of a normal draw, the sign of
    each column corrected by ``diag(R)``; shapes beyond 2-d are flattened to ``(prod(shape[:-1]), shape[-1])``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a shape of 2 or more dimensions, received {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        draws = _generator(self.seed).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(draws)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtypes.to_numpy_dtype(dtype or "float32"))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def _generator(seed):
    return np.random.default_rng(seed) if seed is not None else ember_random.generator()


_ALIASES = {
    "zeros": Zeros, "ones": Ones, "uniform": RandomUniform, "normal": RandomNormal,
    "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}
_CLASSES = {cls.__name__: cls for cls in set(_ALIASES.values())}


def get(identifier) -> Initializer:
    """An initializer from a name (``"glorot_uniform"``), a class name, an instance, a config dict or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier if identifier in _ALIASES else identifier.lower()
        if key in _ALIASES:
            return _ALIASES[key]()
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
    raise ValueError(f"initializers.get: unknown initializer {identifier!r}; expected one of {sorted(_ALIASES)}")


def serialize(initializer) -> dict | str:
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    raise TypeError(f"initializers.serialize: cannot save a plain callable initializer {initializer!r}")


zeros, ones, glorot_uniform, glorot_normal = Zeros, Ones, GlorotUniform, GlorotNormal
he_uniform, he_normal, random_normal, random_uniform = HeUniform, HeNormal, RandomNormal, RandomUniform
orthogonal = Orthogonal
