"""Op-table cases: elementwise arithmetic and math (with broadcasting)."""
import numpy as np

import ember

from .op_table import OpCase, away_from, randn

# Fixed pairs cover equal shapes, a trailing vector, outer-product style size-1 dims, and 0-d on either side;
# seeded random pairs add more combinations of dropped leading dims and size-1 dims.
FIXED_PAIRS = [
    ((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), ()),
    ((4, 1, 3), (1, 5, 1)), ((1,), (3, 1)),
]


def random_broadcast_pairs(seed: int, count: int) -> list:
    """``count`` distinct shape pairs that broadcast together: each is a result shape with some dims set to 1
    and some leading dims dropped (possibly all of them, giving 0-d)."""
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < count:
        result = tuple(int(n) for n in rng.integers(2, 5, rng.integers(1, 4)))

        def operand():
            shape = tuple(1 if rng.random() < 0.3 else n for n in result)
            return shape[rng.integers(0, len(shape) + 1):] if rng.random() < 0.4 else shape

        pair = (operand(), operand())
        if pair not in pairs and pair not in FIXED_PAIRS:
            pairs.append(pair)
    return pairs


BROADCAST_PAIRS = FIXED_PAIRS + random_broadcast_pairs(seed=2024, count=4)


def _pair(shape_a, shape_b):
    return lambda rng: [rng.standard_normal(shape_a), rng.standard_normal(shape_b)]


def _nonzero(rng, shape):
    """Values with |v| in [0.5, 2]: safe divisors."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def _positive(*shape):
    return lambda rng: [rng.uniform(0.5, 2.0, shape)]


def _clamp_inputs(rng):
    return away_from(0.5)(away_from(-0.5)(randn(4, 5)))(rng)


CASES = []
for a_shape, b_shape in BROADCAST_PAIRS:
    tag = f"{a_shape}x{b_shape}"
    CASES += [
        OpCase(f"add{tag}", lambda a, b: a + b, np.add, _pair(a_shape, b_shape)),
        OpCase(f"sub{tag}", lambda a, b: a - b, np.subtract, _pair(a_shape, b_shape)),
        OpCase(f"mul{tag}", lambda a, b: a * b, np.multiply, _pair(a_shape, b_shape)),
        OpCase(f"div{tag}", lambda a, b: a / b, np.divide,
               lambda rng, a_shape=a_shape, b_shape=b_shape: [rng.standard_normal(a_shape), _nonzero(rng, b_shape)]),
        OpCase(f"pow{tag}", lambda a, b: a**b, np.power,
               lambda rng, a_shape=a_shape, b_shape=b_shape: [rng.uniform(0.5, 2.0, a_shape),
                                                              rng.standard_normal(b_shape)]),
        OpCase(f"maximum{tag}", ember.maximum, np.maximum, _pair(a_shape, b_shape)),
        OpCase(f"minimum{tag}", ember.minimum, np.minimum, _pair(a_shape, b_shape)),
    ]

CASES += [
    # Python scalars on either side (they keep float32)
    OpCase("add_scalar", lambda x: x + 2.5, lambda x: x + 2.5, randn(3, 4)),
    OpCase("radd_scalar", lambda x: 2.5 + x, lambda x: 2.5 + x, randn(3, 4)),
    OpCase("sub_scalar", lambda x: x - 1.5, lambda x: x - 1.5, randn(3, 4)),
    OpCase("rsub_scalar", lambda x: 1.5 - x, lambda x: 1.5 - x, randn(3, 4)),
    OpCase("mul_scalar", lambda x: x * 3, lambda x: x * 3, randn(3, 4)),
    OpCase("rmul_scalar", lambda x: 0.5 * x, lambda x: 0.5 * x, randn(3, 4)),
    OpCase("mul_numpy_float64_scalar", lambda x: x * np.float64(2.0), lambda x: x * 2.0, randn(3, 4)),
    OpCase("div_scalar", lambda x: x / 4, lambda x: x / 4, randn(3, 4)),
    OpCase("rdiv_scalar", lambda x: 2.0 / x, lambda x: 2.0 / x, _positive(3, 4)),
    OpCase("add_alpha", lambda a, b: ember.add(a, b, alpha=2.0), lambda a, b: a + 2.0 * b, _pair((3, 4), (4,))),
    OpCase("sub_alpha", lambda a, b: ember.sub(a, b, alpha=0.5), lambda a, b: a - 0.5 * b, _pair((3, 4), (3, 1))),
    # an integer or bool tensor with a float32 tensor gives float32 (PyTorch's promotion)
    OpCase("mul_int_tensor", lambda x, k: x * k, lambda x, k: x * k,
           lambda rng: [rng.standard_normal((3, 4)), rng.integers(-3, 4, (4,))]),
    OpCase("add_bool_tensor", lambda x, m: x + m, lambda x, m: x + m,
           lambda rng: [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) > 0]),
    OpCase("neg", lambda x: -x, np.negative, randn(3, 4)),
    OpCase("neg_0d", ember.neg, np.negative, randn()),
    OpCase("pow_scalar", lambda x: x**3, lambda x: x**3, randn(3, 4)),
    OpCase("pow_negative_scalar", lambda x: x**-2, lambda x: x**-2.0, _positive(3, 4)),
    OpCase("pow_fractional", lambda x: x**0.5, np.sqrt, _positive(3, 4)),
    OpCase("pow_zero", lambda x: x**0, lambda x: x**0, randn(3, 4)),
    OpCase("pow_function", lambda x: ember.pow(x, 1.5), lambda x: x**1.5, _positive(2, 5)),
    OpCase("square", ember.square, np.square, randn(2, 5)),
    OpCase("rpow_scalar", lambda x: 2.0**x, lambda x: 2.0**x, randn(3, 4)),
    OpCase("rpow_numpy_scalar", lambda x: np.float64(3.0)**x, lambda x: 3.0**x, randn(3, 4)),
    OpCase("exp", ember.exp, np.exp, randn(3, 4)),
    OpCase("exp_0d", ember.exp, np.exp, randn()),
    OpCase("log", ember.log, np.log, _positive(3, 4)),
    OpCase("log1p", ember.log1p, np.log1p, _positive(3, 4)),
    OpCase("sqrt", ember.sqrt, np.sqrt, _positive(3, 4)),
    OpCase("sqrt_0d", ember.sqrt, np.sqrt, _positive()),
    OpCase("rsqrt", ember.rsqrt, lambda x: 1 / np.sqrt(x), _positive(3, 4)),
    OpCase("sin", ember.sin, np.sin, randn(3, 4)),
    OpCase("cos", ember.cos, np.cos, randn(3, 4)),
    OpCase("abs", ember.abs, np.abs, away_from(0.0)(randn(3, 4))),
    OpCase("abs_operator", lambda x: abs(x), np.abs, away_from(0.0)(randn(2, 3))),
    OpCase("sign", ember.sign, np.sign, away_from(0.0)(randn(3, 4))),
    OpCase("sign_times_x", lambda x: x.sign() * x, lambda x: np.sign(x) * x, away_from(0.0)(randn(3, 4))),
    OpCase("clamp", lambda x: ember.clamp(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), _clamp_inputs),
    OpCase("clamp_min", lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), away_from(0.1)(randn(4, 5))),
    OpCase("clamp_max", lambda x: x.clamp(max=-0.2), lambda x: np.minimum(x, -0.2), away_from(-0.2)(randn(4, 5))),
    OpCase("clip", lambda x: ember.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), _clamp_inputs),
    OpCase("clamp_tensor_bounds", lambda x, low, high: ember.clamp(x, low, high),
           lambda x, low, high: np.minimum(np.maximum(x, low), high),
           lambda rng: [rng.standard_normal((3, 4)), rng.uniform(-1.5, -1.0, (4,)), rng.uniform(1.0, 1.5, (3, 1))]),
    OpCase("where", lambda c, a, b: ember.where(c, a, b), np.where,
           lambda rng: [rng.standard_normal((3, 4)) > 0, rng.standard_normal((3, 4)), rng.standard_normal((4,))]),
    OpCase("where_broadcast3", lambda c, a, b: ember.where(c, a, b), np.where,
           lambda rng: [rng.standard_normal((2, 1, 4)) > 0, rng.standard_normal((3, 1)), rng.standard_normal(())]),
    OpCase("where_scalar", lambda c, a: ember.where(c, a, 0.0), lambda c, a: np.where(c, a, 0.0),
           lambda rng: [rng.standard_normal((3, 4)) > 0, rng.standard_normal((3, 4))]),
    OpCase("where_from_comparison", lambda a, b: ember.where(a > b, a, b * 2), lambda a, b: np.where(a > b, a, b * 2),
           _pair((3, 4), (4,))),
    OpCase("reciprocal", ember.reciprocal, np.reciprocal, _positive(3, 4)),
    OpCase("clone", ember.clone, np.copy, randn(3, 4)),
    OpCase("composite_chain", lambda x, y: (x * y).exp().log1p() / (y * y + 1.0),
           lambda x, y: np.log1p(np.exp(x * y)) / (y * y + 1.0), _pair((2, 3), (3,))),
]

CASES += [
    # both branches numbers: a constant of the default float dtype, scaled by a differentiable input after
    OpCase("where_number_branches_times_input",
           lambda c, a: ember.where(c, 1.0, -0.5) * a, lambda c, a: np.where(c, 1.0, -0.5) * a,
           lambda rng: [rng.standard_normal((3, 1)) > 0, rng.standard_normal((3, 4))]),
    OpCase("where_number_first_branch_broadcast", lambda c, a: ember.where(c, 2.0, a),
           lambda c, a: np.where(c, 2.0, a),
           lambda rng: [rng.standard_normal((1, 4)) > 0, rng.standard_normal((3, 4))]),
]
