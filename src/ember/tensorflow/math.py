"""``tf.math``: the math ops under TensorFlow's ``tf.math.*`` names."""
from .nn import softplus
from .ops import (
    abs, add, argmax, argmin, ceil, cos, cumsum, divide, equal, exp, floor, floordiv, floormod, greater,
    greater_equal, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, maximum,
    minimum, mod, multiply, negative, not_equal, pow, reciprocal, reduce_all, reduce_any, reduce_logsumexp,
    reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_std, reduce_sum, reduce_variance, round, rsqrt,
    sigmoid, sign, sin, sqrt, square, subtract, tanh, truediv,
)

__all__ = [
    "softplus", "abs", "add", "argmax", "argmin", "ceil", "cos", "cumsum", "divide", "equal", "exp", "floor",
    "floordiv", "floormod", "greater", "greater_equal", "less", "less_equal", "log", "log1p", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply", "negative", "not_equal",
    "pow", "reciprocal", "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_std", "reduce_sum", "reduce_variance", "round", "rsqrt", "sigmoid", "sign", "sin",
    "sqrt", "square", "subtract", "tanh", "truediv",
]
