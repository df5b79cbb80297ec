"""Op-table cases: matmul (1-d and 2-d operands, batched, broadcast batch dims), mm, bmm, dot, outer, and the
fused affine map behind nn.Linear and keras Dense (weight (in, out) or transposed (out, in), with and without
bias, 2-d and batched inputs)."""
import numpy as np

import ember
from ember.functions.linalg import affine

from .op_table import OpCase


def _shapes(*shapes):
    return lambda rng: [rng.standard_normal(shape) for shape in shapes]


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (2, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]

CASES = [
    OpCase(f"matmul{a}@{b}", lambda x, y: x @ y, np.matmul, _shapes(a, b)) for a, b in MATMUL_SHAPES
] + [
    OpCase("matmul_function", ember.matmul, np.matmul, _shapes((2, 3), (3, 2))),
    OpCase("matmul_int_tensor", lambda x, k: x @ k, np.matmul,
           lambda rng: [rng.standard_normal((2, 3)), rng.integers(-2, 3, (3, 4))]),
    OpCase("matmul_chain", lambda x, w, v: (x @ w).tanh() @ v, lambda x, w, v: np.tanh(x @ w) @ v,
           _shapes((2, 3), (3, 4), (4,))),
    OpCase("mm", ember.mm, np.matmul, _shapes((3, 4), (4, 2))),
    OpCase("bmm", lambda a, b: a.bmm(b), np.matmul, _shapes((2, 3, 4), (2, 4, 5))),
    OpCase("dot", ember.dot, np.dot, _shapes((5,), (5,))),
    OpCase("outer", ember.outer, np.outer, _shapes((3,), (4,))),
    OpCase("affine", affine, lambda x, w, b: x @ w + b, _shapes((3, 4), (4, 5), (5,))),
    OpCase("affine_no_bias", affine, lambda x, w: x @ w, _shapes((3, 4), (4, 5))),
    OpCase("affine_transposed", lambda x, w, b: affine(x, w, b, transposed=True), lambda x, w, b: x @ w.T + b,
           _shapes((3, 4), (5, 4), (5,))),
    OpCase("affine_transposed_batched", lambda x, w, b: affine(x, w, b, transposed=True),
           lambda x, w, b: x @ w.T + b, _shapes((2, 3, 4), (5, 4), (5,))),
    OpCase("affine_batched_no_bias", affine, lambda x, w: x @ w, _shapes((2, 2, 3, 4), (4, 5))),
]

EINSUM_EQUATIONS = [
    ("bij,bjk->bik", ((2, 3, 4), (2, 4, 5))),
    ("bhqd,bhkd->bhqk", ((2, 2, 3, 4), (2, 2, 5, 4))),
    ("bhqk,bhkd->bhqd", ((2, 2, 3, 5), (2, 2, 5, 4))),
    ("ij,j->i", ((3, 4), (4,))),
    ("i,j->ij", ((3,), (4,))),
    ("ii->i", ((4, 4),)),
    ("...ij->...ji", ((2, 3, 4, 5),)),
    ("ii", ((4, 4),)),
    ("ij,jk", ((2, 3), (3, 4))),
    ("bii->b", ((2, 3, 3),)),
    ("iij->ji", ((3, 3, 2),)),
    ("ijk->", ((2, 3, 4),)),
    ("ij,ij->i", ((3, 4), (3, 4))),
    ("ij,kj,k->i", ((3, 4), (5, 4), (5,))),
    ("ij->j", ((3, 4),)),
    ("...ij,...jk->...ik", ((2, 1, 3, 4), (5, 4, 2))),
    ("bij,bjk->bik", ((1, 3, 4), (2, 4, 2))),
    ("i,i->", ((5,), (5,))),
    ("ij,ji", ((3, 4), (4, 3))),
    ("bij,bkj->bki", ((2, 3, 4), (2, 5, 4))),
]

CASES += [
    OpCase(f"einsum[{equation}]{shapes}", lambda *xs, equation=equation: ember.einsum(equation, *xs),
           lambda *xs, equation=equation: np.einsum(equation, *xs), _shapes(*shapes))
    for equation, shapes in EINSUM_EQUATIONS
] + [
    OpCase("einsum_operand_list", lambda a, b: ember.einsum("ij,jk->ik", [a, b]), np.matmul,
           _shapes((2, 3), (3, 2))),
    OpCase("baddbmm", ember.baddbmm, lambda c, a, b: c + a @ b, _shapes((2, 3, 5), (2, 3, 4), (2, 4, 5))),
    OpCase("baddbmm_beta_alpha_broadcast", lambda c, a, b: c.baddbmm(a, b, beta=0.5, alpha=-2.0),
           lambda c, a, b: 0.5 * c - 2.0 * (a @ b), _shapes((5,), (2, 3, 4), (2, 4, 5))),
    OpCase("baddbmm_beta_zero", lambda c, a, b: ember.baddbmm(c, a, b, beta=0), lambda c, a, b: a @ b,
           _shapes((2, 3, 5), (2, 3, 4), (2, 4, 5)), grad_inputs=(1, 2)),
]
