"""Op-table cases: reductions over dim=None, an int, a negative int and tuples, with keepdim on and off."""
import numpy as np

import ember

from .op_table import OpCase, away_from, randn

SHAPE = (2, 3, 4)
DIMS = [None, 1, -1, (0, 2), (-1, 0)]


def _np_logsumexp(x, axis=None, keepdims=False):
    shift = np.max(x, axis=axis, keepdims=True)
    result = np.log(np.exp(x - shift).sum(axis=axis, keepdims=True)) + shift
    return result if keepdims else np.squeeze(result, axis=axis)


def _np_extreme(value, index, x, dim, keepdim):
    """``max``/``min`` as Ember returns them: the value alone for dim=None, else (values, indices)."""
    if dim is None:
        return value(x, keepdims=keepdim)
    return value(x, dim, keepdims=keepdim), index(x, dim, keepdims=keepdim)


def _with_zeros(rng):
    x = rng.standard_normal(SHAPE)
    x[0, 1, 2] = 0.0
    x[1, 0, 0] = x[1, 0, 3] = 0.0  # two zeros in one row: prod and its gradient are both zero there
    return [x]


CASES = []
for dim in DIMS:
    for keepdim in (False, True):
        tag = f"dim={dim},keepdim={keepdim}"
        CASES += [
            OpCase(f"sum[{tag}]", lambda x, d=dim, k=keepdim: x.sum(d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.sum(x, axis=d, keepdims=k), randn(*SHAPE)),
            OpCase(f"mean[{tag}]", lambda x, d=dim, k=keepdim: ember.mean(x, dim=d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.mean(x, axis=d, keepdims=k), randn(*SHAPE)),
            OpCase(f"var[{tag}]", lambda x, d=dim, k=keepdim: x.var(d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.var(x, axis=d, ddof=1, keepdims=k), randn(*SHAPE)),
            OpCase(f"std[{tag}]", lambda x, d=dim, k=keepdim: ember.std(x, d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.std(x, axis=d, ddof=1, keepdims=k), randn(*SHAPE)),
            OpCase(f"prod[{tag}]", lambda x, d=dim, k=keepdim: x.prod(d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.prod(x, axis=d, keepdims=k), randn(*SHAPE)),
            OpCase(f"logsumexp[{tag}]", lambda x, d=dim, k=keepdim: x.logsumexp(d, keepdim=k),
                   lambda x, d=dim, k=keepdim: _np_logsumexp(x, d, k), randn(*SHAPE)),
            OpCase(f"norm[{tag}]", lambda x, d=dim, k=keepdim: x.norm(dim=d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.sqrt(np.sum(x * x, axis=d, keepdims=k)), randn(*SHAPE)),
            OpCase(f"amax[{tag}]", lambda x, d=dim, k=keepdim: ember.amax(x, d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.max(x, axis=d, keepdims=k), randn(*SHAPE)),
            OpCase(f"amin[{tag}]", lambda x, d=dim, k=keepdim: x.amin(d, keepdim=k),
                   lambda x, d=dim, k=keepdim: np.min(x, axis=d, keepdims=k), randn(*SHAPE)),
        ]
        if dim is None or isinstance(dim, int):
            # max(dim) returns (values, indices); max() returns the value alone
            CASES += [
                OpCase(f"max[{tag}]", lambda x, d=dim, k=keepdim: x.max(d, keepdim=k),
                       lambda x, d=dim, k=keepdim: _np_extreme(np.max, np.argmax, x, d, k), randn(*SHAPE)),
                OpCase(f"min[{tag}]", lambda x, d=dim, k=keepdim: ember.min(x, d, keepdim=k),
                       lambda x, d=dim, k=keepdim: _np_extreme(np.min, np.argmin, x, d, k), randn(*SHAPE)),
            ]

CASES += [
    # NumPy spellings are aliases
    OpCase("sum_axis_keepdims", lambda x: x.sum(axis=(0, 1), keepdims=True),
           lambda x: np.sum(x, axis=(0, 1), keepdims=True), randn(*SHAPE)),
    OpCase("mean_axis", lambda x: x.mean(axis=-2), lambda x: np.mean(x, axis=-2), randn(*SHAPE)),
    OpCase("max_axis_values", lambda x: x.max(axis=2).values, lambda x: np.max(x, axis=2), randn(*SHAPE)),
    # 0-d inputs accept dim 0 / -1, as in PyTorch
    OpCase("sum_0d_dim0", lambda x: x.sum(0), np.sum, randn()),
    OpCase("prod_0d", lambda x: x.prod(), np.prod, randn()),
    OpCase("logsumexp_0d", lambda x: x.logsumexp(-1), lambda x: x, randn()),
    OpCase("max_0d_dim0", lambda x: x.max(0), lambda x: (x, np.array(0)), randn()),
    # variance corrections
    OpCase("var_correction0", lambda x: x.var(1, correction=0), lambda x: np.var(x, axis=1), randn(*SHAPE)),
    OpCase("var_unbiased_false", lambda x: x.var((0, 2), False), lambda x: np.var(x, axis=(0, 2)), randn(*SHAPE)),
    OpCase("std_correction2", lambda x: x.std(correction=2), lambda x: np.std(x, ddof=2), randn(*SHAPE)),
    # prod where some inputs are zero: gradient and second derivatives stay exact (no division)
    OpCase("prod_with_zeros_dim", lambda x: x.prod(-1), lambda x: np.prod(x, axis=-1), _with_zeros),
    OpCase("prod_with_zeros_all", lambda x: x.prod(), np.prod, _with_zeros),
    OpCase("prod_with_zeros_tuple", lambda x: x.prod((2, 0), keepdim=True),
           lambda x: np.prod(x, axis=(2, 0), keepdims=True), _with_zeros),
    # other norms (abs has a kink at 0: inputs stay away from it)
    OpCase("norm_p1", lambda x: x.norm(1, dim=1), lambda x: np.sum(np.abs(x), axis=1), away_from(0.0)(randn(*SHAPE))),
    OpCase("norm_p3", lambda x: ember.norm(x, 3, dim=(0, 2), keepdim=True),
           lambda x: np.sum(np.abs(x) ** 3, axis=(0, 2), keepdims=True) ** (1 / 3), away_from(0.0)(randn(*SHAPE))),
    OpCase("norm_p_half", lambda x: ember.norm(x, 0.5), lambda x: np.sum(np.abs(x) ** 0.5) ** 2,
           away_from(0.0, 0.3)(randn(3, 4))),
    OpCase("norm_inf", lambda x: x.norm(float("inf"), dim=-1), lambda x: np.max(np.abs(x), axis=-1),
           away_from(0.0)(randn(*SHAPE))),
    OpCase("norm_neg_inf", lambda x: x.norm(float("-inf"), dim=0), lambda x: np.min(np.abs(x), axis=0),
           away_from(0.0)(randn(*SHAPE))),
    OpCase("norm_fro", lambda x: x.norm("fro"), lambda x: np.linalg.norm(x.reshape(-1)), randn(3, 4)),
    OpCase("cumsum", lambda x: x.cumsum(1), lambda x: np.cumsum(x, axis=1), randn(*SHAPE)),
    OpCase("cumsum_negative_dim", lambda x: ember.cumsum(x, -1), lambda x: np.cumsum(x, axis=-1), randn(*SHAPE)),
    # argmax / argmin are not differentiable: exercise them through the values they pick
    OpCase("argmax_gather", lambda x: x.gather(-1, x.argmax(-1, keepdim=True)),
           lambda x: np.take_along_axis(x, np.argmax(x, -1)[..., None], -1), randn(*SHAPE)),
    OpCase("argmin_index", lambda x: x.reshape(-1)[x.argmin()], lambda x: x.reshape(-1)[np.argmin(x)], randn(*SHAPE)),
]
