"""Op-table cases: ``x[key]`` for every key kind (ints, slices, None, Ellipsis, masks, integer arrays with
repeats), gather, index_select, masked_fill, take_along_dim and one_hot."""
import numpy as np

import ember

from .op_table import OpCase, randn

SHAPE = (4, 5, 3)


def _with_index(index, shape=SHAPE):
    """Inputs: x and a constant integer index array (it becomes an int64 Tensor)."""
    return lambda rng: [rng.standard_normal(shape), np.asarray(index, dtype=np.int64)]


def _with_mask(mask_shape, shape=SHAPE):
    return lambda rng: [rng.standard_normal(shape), rng.standard_normal(mask_shape) > 0]


def _key_case(name, key, shape=SHAPE):
    """``x[key]`` with a fixed key, in Ember and in NumPy."""
    return OpCase(f"getitem[{name}]", lambda x: x[key], lambda x: x[key], randn(*shape))


IDX_2D = [[0, 3], [3, 3], [1, 0]]

CASES = [
    _key_case("int", 1),
    _key_case("negative_int", -1),
    _key_case("int_tuple", (2, -1)),
    _key_case("slice", slice(1, 3)),
    _key_case("slice_step", (slice(None), slice(None, None, 2))),
    _key_case("slice_negative_bounds", (slice(-3, -1), 0)),
    _key_case("none", (None, 1)),
    _key_case("ellipsis", (Ellipsis, 0)),
    _key_case("none_ellipsis_slice", (None, Ellipsis, slice(1, 3))),
    _key_case("list_repeated", [0, 2, 0, 0]),
    _key_case("columns_repeated", (slice(None), [1, 1])),
    _key_case("tuple_inside_key", (slice(None), (1, 1, 4))),
    _key_case("int_and_array", (1, [0, 0, 4])),
    _key_case("two_arrays_repeated", ([0, 0, 3], slice(None), [1, 1, 2])),
    _key_case("broadcast_arrays", ([[0], [3]], [[1, 1, 4]])),
    _key_case("array_after_slice", (slice(1, 3), [2, 2, 0], slice(None))),
    _key_case("empty_list", ([],)),
    _key_case("bool_list", [True, False, False, True]),
    OpCase("getitem[tensor_index_2d]", lambda x, idx: x[idx], lambda x, idx: x[idx], _with_index(IDX_2D)),
    OpCase("getitem[tensor_index_dim1]", lambda x, idx: x[:, idx], lambda x, idx: x[:, idx],
           _with_index([4, 4, 4, 0, 4])),
    OpCase("getitem[tensor_index_heavy_repeats]", lambda x, idx: x[idx], lambda x, idx: x[idx],
           _with_index(np.random.default_rng(7).integers(0, 4, 40))),
    OpCase("getitem[tensor_negative_index]", lambda x, idx: x[idx], lambda x, idx: x[idx], _with_index([-1, 0, -1])),
    OpCase("getitem[mask_full]", lambda x, m: x[m], lambda x, m: x[m], _with_mask(SHAPE)),
    OpCase("getitem[mask_leading]", lambda x, m: x[m], lambda x, m: x[m], _with_mask((4, 5))),
    OpCase("getitem[mask_dim1]", lambda x, m: x[:, m], lambda x, m: x[:, m], _with_mask((5,))),
    OpCase("getitem[0d]", lambda x: x[None], lambda x: x[None], randn()),
    OpCase("gather_repeated", lambda x, idx: x.gather(1, idx), lambda x, idx: np.take_along_axis(x, idx, 1),
           _with_index([[0, 0, 2], [1, 1, 1], [2, 0, 2]], shape=(3, 4))),
    OpCase("gather_dim0", lambda x, idx: ember.gather(x, 0, idx), lambda x, idx: np.take_along_axis(x, idx, 0),
           _with_index([[[3, 3, 0]], [[1, 3, 3]]], shape=(4, 1, 3))),
    OpCase("gather_smaller_index", lambda x, idx: x.gather(-1, idx), lambda x, idx: np.take_along_axis(x[:2], idx, -1),
           _with_index([[1, 1], [4, 0]], shape=(4, 5))),
    OpCase("take_along_dim", lambda x, idx: ember.take_along_dim(x, idx, 1),
           lambda x, idx: np.take_along_axis(x, idx, 1), _with_index([[2], [2], [0]], shape=(3, 4))),
    OpCase("index_select_repeated", lambda x, idx: x.index_select(1, idx), lambda x, idx: x[:, idx],
           _with_index([2, 0, 2, 2], shape=(3, 4))),
    OpCase("masked_fill", lambda x, m: x.masked_fill(m, -2.0), lambda x, m: np.where(m, -2.0, x),
           _with_mask((5, 1))),
    OpCase("one_hot_select", lambda x, labels: (x * ember.one_hot(labels, 5)).sum(-1),
           lambda x, labels: np.take_along_axis(x, labels[:, None], -1)[:, 0],
           lambda rng: [rng.standard_normal((6, 5)), rng.integers(0, 5, 6)]),
]


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _causal_mask(rng):
    """Scores (2, 4, 4) and the upper-triangle mask of a causal attention."""
    return [rng.standard_normal((2, 4, 4)), np.triu(np.ones((4, 4), dtype=bool), 1)]


def _distinct(*shape):
    """Values without ties (a permutation scaled), so that topk's choice is stable under finite differences."""
    return lambda rng: [rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5 + rng.uniform(-0.1, 0.1, shape)]


def _np_topk(x, k, axis, largest):
    order = np.argsort(-x if largest else x, axis=axis, kind="stable")
    return np.take_along_axis(x, np.take(order, np.arange(k), axis=axis), axis=axis)


CASES += [
    OpCase("masked_fill_broadcast_mask", lambda x, m: x.masked_fill(m, -2.0), lambda x, m: np.where(m, -2.0, x),
           _with_mask((1, 3))),
    OpCase("masked_fill_mask_grows_output", lambda x, m: ember.masked_fill(x, m, 1.5),
           lambda x, m: np.where(m, 1.5, x), lambda rng: [rng.standard_normal((5,)), rng.standard_normal((3, 5)) > 0]),
    OpCase("masked_fill_causal_then_softmax", lambda s, m: s.masked_fill(m, float("-inf")).softmax(-1),
           lambda s, m: _np_softmax(np.where(m, -np.inf, s)),
           _causal_mask),
    OpCase("masked_fill_tensor_value", lambda x, v, m: x.masked_fill(m, v), lambda x, v, m: np.where(m, v, x),
           lambda rng: [rng.standard_normal((3, 4)), rng.standard_normal(()), rng.standard_normal((3, 4)) > 0]),
    OpCase("tril", ember.tril, np.tril, randn(3, 4)),
    OpCase("tril_diagonal_batched", lambda x: ember.tril(x, diagonal=1), lambda x: np.tril(x, 1), randn(2, 3, 4)),
    OpCase("tril_negative_diagonal", lambda x: x.tril(-1), lambda x: np.tril(x, -1), randn(2, 2, 4, 4)),
    OpCase("triu", lambda x: x.triu(), np.triu, randn(4, 3)),
    OpCase("triu_diagonal_batched", lambda x: ember.triu(x, 2), lambda x: np.triu(x, 2), randn(2, 4, 5)),
    OpCase("topk_values", lambda x: ember.topk(x, 3).values, lambda x: _np_topk(x, 3, -1, True), _distinct(4, 6)),
    OpCase("topk_smallest_dim0", lambda x: x.topk(2, dim=0, largest=False)[0],
           lambda x: _np_topk(x, 2, 0, False), _distinct(5, 3)),
    OpCase("topk_batched_middle_dim", lambda x: ember.topk(x, 2, 1).values * 2.0,
           lambda x: _np_topk(x, 2, 1, True) * 2.0, _distinct(2, 4, 3)),
]
