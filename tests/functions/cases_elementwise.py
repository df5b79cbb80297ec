"""Op-table cases: elementwise arithmetic and math (with broadcasting)."""
import numpy as np

import ember

from .op_table import OpCase, randn

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 4), (3, 1)), ((), (2, 3))]


def _pair(shape_a, shape_b):
    return lambda rng: [rng.standard_normal(shape_a), rng.standard_normal(shape_b)]


def _positive(*shape):
    return lambda rng: [rng.uniform(0.5, 2.0, shape)]


CASES = []
for a_shape, b_shape in BROADCAST_PAIRS:
    tag = f"{a_shape}x{b_shape}"
    CASES += [
        OpCase(f"add{tag}", lambda a, b: a + b, np.add, _pair(a_shape, b_shape)),
        OpCase(f"sub{tag}", lambda a, b: a - b, np.subtract, _pair(a_shape, b_shape)),
        OpCase(f"mul{tag}", lambda a, b: a * b, np.multiply, _pair(a_shape, b_shape)),
        OpCase(f"div{tag}", lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0), _pair(a_shape, b_shape)),
    ]

CASES += [
    OpCase("neg", lambda x: -x, np.negative, randn(3, 4)),
    OpCase("add_scalar", lambda x: x + 2.5, lambda x: x + 2.5, randn(3, 4)),
    OpCase("rsub_scalar", lambda x: 1.5 - x, lambda x: 1.5 - x, randn(3, 4)),
    OpCase("rdiv_scalar", lambda x: 2.0 / x, lambda x: 2.0 / x, _positive(3, 4)),
    OpCase("pow_scalar", lambda x: x**3, lambda x: x**3, randn(3, 4)),
    OpCase("pow_fractional", lambda x: x**0.5, np.sqrt, _positive(3, 4)),
    OpCase("square", ember.square, np.square, randn(2, 5)),
    OpCase("rpow_scalar", lambda x: 2.0**x, lambda x: 2.0**x, randn(3, 4)),
    OpCase("pow_tensor", lambda a, b: a**b, np.power,
           lambda rng: [rng.uniform(0.5, 2.0, (3, 4)), rng.standard_normal((4,))]),
    OpCase("exp", ember.exp, np.exp, randn(3, 4)),
    OpCase("log", ember.log, np.log, _positive(3, 4)),
    OpCase("log1p", ember.log1p, np.log1p, _positive(3, 4)),
    OpCase("sqrt", ember.sqrt, np.sqrt, _positive(3, 4)),
    OpCase("rsqrt", ember.rsqrt, lambda x: 1 / np.sqrt(x), _positive(3, 4)),
    OpCase("sin", ember.sin, np.sin, randn(3, 4)),
    OpCase("cos", ember.cos, np.cos, randn(3, 4)),
    OpCase("abs", ember.abs, np.abs, randn(3, 4)),
    OpCase("clamp", lambda x: ember.clamp(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), randn(4, 5)),
    OpCase("clamp_min", lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), randn(4, 5)),
    OpCase("maximum", ember.maximum, np.maximum, _pair((3, 4), (4,))),
    OpCase("minimum", ember.minimum, np.minimum, _pair((3, 1), (1, 4))),
    OpCase("where", lambda c, a, b: ember.where(c, a, b), np.where,
           lambda rng: [rng.standard_normal((3, 4)) > 0, rng.standard_normal((3, 4)), rng.standard_normal((4,))]),
    OpCase("reciprocal", ember.reciprocal, np.reciprocal, _positive(3, 4)),
    OpCase("clone", ember.clone, np.copy, randn(3, 4)),
]
