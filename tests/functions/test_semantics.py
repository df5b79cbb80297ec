"""Semantics the op table cannot express: errors, dtypes and promotion, return types, numerical edge cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember.backend.scatter import scatter_add_rows
from ember.backend.special import erf as erf_array


def leaf(array, dtype=np.float32) -> ember.Tensor:
    return ember.tensor(np.asarray(array, dtype=dtype), requires_grad=True)


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"),
                                      (lambda a, b: a * b, "mul"), (lambda a, b: a / b, "div"),
                                      (ember.maximum, "maximum"), (lambda a, b: a**b, "pow")])
def test_broadcast_error_names_op_and_both_shapes(op, name):
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        op(ember.ones(2, 3), ember.ones(4, 5))


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are incompatible"):
        ember.ones(2, 3) @ ember.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: batch dims of \(2, 2, 3\) and \(3, 3, 5\)"):
        ember.ones(2, 2, 3) @ ember.ones(3, 3, 5)
    with pytest.raises(ValueError, match=r"matmul: .*\(\) and \(3,\)"):
        ember.matmul(ember.tensor(1.0), ember.ones(3))


def test_reshape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape tensor of shape \(2, 3\) .* into \(4, 2\)"):
        ember.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\).*\(-1, -1\)"):
        ember.ones(2, 3).view(-1, -1)


def test_cat_and_stack_errors_name_shapes():
    with pytest.raises(ValueError, match=r"cat: .*tensor 0 has shape \(2, 3\) but tensor 1 has shape \(2, 4\)"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 4)])
    with pytest.raises(ValueError, match=r"cat: tensor 0 has shape \(2, 3\) but tensor 1 has shape \(3,\)"):
        ember.cat([ember.ones(2, 3), ember.ones(3)])
    with pytest.raises(ValueError, match="cat: zero-dimensional"):
        ember.cat([ember.tensor(1.0), ember.tensor(2.0)])
    with pytest.raises(ValueError, match=r"stack: .*\(2, 3\).*\(3, 2\)"):
        ember.stack([ember.ones(2, 3), ember.ones(3, 2)])


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(3, 1\) to \(2, 4\)"):
        ember.ones(3, 1).expand(2, 4)
    with pytest.raises(ValueError, match=r"pad: padding \[-3, -3\] crops more than .*\(3, 5\)"):
        ember.pad(ember.ones(3, 5), (-3, -3))
    with pytest.raises(ValueError, match=r"split: sections \[3, 5\] .* size 7"):
        ember.ones(7).split([3, 5])
    with pytest.raises(IndexError, match="transpose: dim 2 is out of range"):
        ember.ones(2, 3).transpose(0, 2)


def test_index_errors():
    x = ember.ones(3, 4)
    with pytest.raises(IndexError, match=r"index: .*\(tensor shape \(3, 4\)\)"):
        x[5]
    with pytest.raises(IndexError, match="must be integer or bool"):
        x[ember.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match=r"gather: index values must lie in \[0, 4\)"):
        x.gather(1, ember.tensor([[-1], [0], [1]]))
    with pytest.raises(ValueError, match=r"gather: index shape \(4, 1\) exceeds input shape \(3, 4\)"):
        x.gather(1, ember.tensor([[0], [0], [0], [0]]))


def test_floating_only_activations_reject_integers():
    labels = ember.tensor([1, -2])
    for op in (ember.leaky_relu, ember.elu, ember.gelu, ember.softplus, ember.silu, ember.softmax, ember.norm):
        with pytest.raises(TypeError, match="expected a floating tensor, received dtype int64"):
            op(labels)
    with pytest.raises(TypeError, match="mean: expected a floating tensor"):
        labels.mean()


# ---------------------------------------------------------------------------------------- return types
def test_max_and_min_with_dim_return_values_and_int64_indices():
    data = np.array([[1.0, 7.0, 3.0], [9.0, -2.0, 9.5]], dtype=np.float32)
    x = ember.tensor(data)
    result = x.max(1)
    values, indices = result
    assert result.values is values and result.indices is indices
    np.testing.assert_array_equal(values.numpy(), [7.0, 9.5])
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.numpy(), [1, 2])
    low = ember.min(x, dim=0, keepdim=True)
    assert low.values.shape == (1, 3) and low.indices.shape == (1, 3)
    np.testing.assert_array_equal(low.indices.numpy(), [[0, 1, 0]])
    assert x.max().shape == () and float(x.max()) == 9.5


def test_max_gradient_splits_ties_but_max_dim_picks_one_index():
    x = leaf([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5])
    y = leaf([[1.0, 3.0, 3.0]])
    values, indices = y.max(dim=1)
    values.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0.0, 1.0, 0.0]])
    assert indices.item() == 1  # the first maximal index, as in NumPy


def test_argmax_argmin_are_int64():
    x = ember.tensor([[0.5, 2.0, -1.0], [3.0, 1.0, 3.5]])
    assert x.argmax().dtype == np.int64 and x.argmax().item() == 5
    assert x.argmin(dim=1).dtype == np.int64
    np.testing.assert_array_equal(x.argmin(dim=1).numpy(), [2, 1])
    assert x.argmax(dim=0, keepdim=True).shape == (1, 3)
    assert x.argmax(axis=1, keepdims=True).shape == (2, 1)
    assert not x.argmax().requires_grad


def test_var_std_unbiased_by_default_and_correction():
    data = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    x = ember.tensor(data)
    np.testing.assert_allclose(x.var().item(), data.var(ddof=1), rtol=1e-5)
    np.testing.assert_allclose(x.std(1).numpy(), data.std(axis=1, ddof=1), rtol=1e-5)
    np.testing.assert_allclose(x.var(1, correction=0).numpy(), data.var(axis=1), rtol=1e-5)
    np.testing.assert_allclose(x.std(0, unbiased=False).numpy(), data.std(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ember.var(x, 0, keepdim=True).numpy(), data.var(axis=0, ddof=1, keepdims=True),
                               rtol=1e-5)
    assert x.var().dtype == np.float32


def test_axis_and_keepdims_are_aliases_of_dim_and_keepdim():
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = ember.tensor(data)
    for name in ("sum", "mean", "var", "std", "prod", "logsumexp", "norm"):
        by_dim = getattr(x, name)(dim=(0, 2), keepdim=True)
        by_axis = getattr(x, name)(axis=(0, 2), keepdims=True)
        assert by_axis.shape == (1, 3, 1)
        np.testing.assert_array_equal(by_dim.numpy(), by_axis.numpy())
    assert x.max(axis=1).values.shape == (2, 4)
    assert x.amax(axis=(0, 1), keepdims=True).shape == (1, 1, 4)
    assert ember.amin(x, axis=-1).tolist() == [[0, 4, 8], [12, 16, 20]]
    assert (x > 10).any(axis=2, keepdims=True).shape == (2, 3, 1)
    assert (x > 10).all(axis=0).tolist() == [[False] * 4, [False] * 4, [False, False, False, True]]
    assert x.argmax(axis=1).shape == (2, 4)
    assert ember.cat([x, x], axis=2).shape == (2, 3, 8)
    assert ember.softmax(x, axis=0).shape == (2, 3, 4)
    with pytest.raises(TypeError, match="sum: pass dim or axis, not both"):
        x.sum(dim=0, axis=1)


def test_comparisons_return_bool():
    x = ember.tensor([1.0, 2.0, 3.0])
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > ember.tensor([0, 5, 3]), 2.0 < x):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x >= 2).numpy(), [False, True, True])
    np.testing.assert_array_equal(ember.eq(x, ember.tensor([[1.0], [3.0]])).numpy(),
                                  [[True, False, False], [False, False, True]])


def test_one_hot():
    labels = ember.tensor([[0, 2], [1, 2]])
    encoded = ember.one_hot(labels, 4)
    assert encoded.dtype == np.int64 and encoded.shape == (2, 2, 4)
    np.testing.assert_array_equal(encoded.numpy(), np.eye(4, dtype=np.int64)[labels.numpy()])
    assert ember.one_hot(ember.tensor([0, 3])).shape == (2, 4)  # num_classes inferred as max + 1
    with pytest.raises(ValueError, match=r"one_hot: labels must lie in \[0, 3\)"):
        ember.one_hot(ember.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match="one_hot: labels must be integers"):
        ember.one_hot(ember.tensor([0.0, 1.0]), 2)


def test_where_and_tensor_where_method():
    x = ember.tensor([-1.0, 2.0, -3.0])
    np.testing.assert_array_equal(ember.where(x > 0, x, 0.0).numpy(), [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(x.where(x < 0, ember.tensor(9.0)).numpy(), [-1.0, 9.0, -3.0])
    (indices,) = ember.where(x > 0)
    assert indices.dtype == np.int64 and indices.tolist() == [1]


# ------------------------------------------------------------------------------------- dtypes, no upcast
@pytest.mark.parametrize("make", [
    lambda x: x * 2.0, lambda x: 2.0 * x, lambda x: x + 1, lambda x: x - 0.5, lambda x: x / 3, lambda x: 1.0 / x,
    lambda x: x**2, lambda x: x**0.5, lambda x: 2.0**x, lambda x: x * np.float64(2.0), lambda x: np.float64(2.0) * x,
    lambda x: x + np.float64(1e-3), lambda x: x / np.float64(3.0), lambda x: x**np.float64(3.0),
    lambda x: x + np.int64(2), lambda x: x + np.array(2.0), lambda x: ember.maximum(x, 0.5),
    lambda x: ember.where(x > 0, x, np.float64(0.0)), lambda x: x.clamp(np.float64(-1.0), 1.0),
    lambda x: x + ember.tensor(1.0, dtype=ember.float64),
])
def test_scalars_never_upcast_float32(make):
    x = ember.tensor(np.array([0.5, 1.5, 2.5], dtype=np.float32))
    assert make(x).dtype == np.float32


def test_integer_true_division_gives_float32():
    a, b = ember.tensor([1, 2, 3]), ember.tensor([2, 4, 4])
    quotient = a / b
    assert quotient.dtype == np.float32
    np.testing.assert_allclose(quotient.numpy(), [0.5, 0.5, 0.75])
    assert (a / 2).dtype == np.float32 and (1 / a).dtype == np.float32
    assert (a // b).dtype == np.int64


def test_floating_functions_of_integers_give_float32():
    k = ember.tensor([1, 4])
    for op in (ember.exp, ember.log, ember.sqrt, ember.rsqrt, ember.sin, ember.cos, ember.tanh, ember.sigmoid,
               ember.erf, ember.log1p, ember.logsumexp):
        assert op(k).dtype == np.float32, op.__name__
    assert (k**0.5).dtype == np.float32 and (k**2).dtype == np.int64 and (2.5**k).dtype == np.float32
    np.testing.assert_allclose((2.5**k).numpy(), [2.5, 39.0625])
    assert (k * 2.5).dtype == np.float32
    np.testing.assert_allclose(k.clamp(min=1.5).numpy(), [1.5, 4.0])
    with pytest.raises(ValueError, match="pow: integer tensors cannot be raised to the negative integer power"):
        k**-1


def test_sum_of_bool_and_int_is_int64():
    assert (ember.tensor([1.0, -1.0, 2.0]) > 0).sum().dtype == np.int64
    assert (ember.tensor([1.0, -1.0, 2.0]) > 0).sum().item() == 2
    assert ember.tensor([1, 2], dtype=ember.int32).sum().dtype == np.int64
    assert ember.tensor([1, 2], dtype=ember.int32).sum(dtype=ember.float32).dtype == np.float32


@pytest.mark.parametrize("left, right, expected", [
    (ember.float32, ember.float64, ember.float64),
    (ember.int64, ember.float32, ember.float32),
    (ember.int32, ember.float16, ember.float16),
    (ember.int32, ember.int64, ember.int64),
    (ember.bool, ember.int32, ember.int32),
    (ember.bool, ember.float32, ember.float32),
    (ember.uint8, ember.int8, ember.int16),
    (ember.float16, ember.float32, ember.float32),
])
def test_mixed_dtypes_promote_like_pytorch(left, right, expected):
    a, b = ember.ones(2, 3, dtype=left), ember.ones(3, dtype=right)
    for result in (a + b, b + a, a * b, ember.maximum(a, b), ember.where(a > 0, a, b),
                   ember.cat([a, b.reshape(1, 3)])):
        assert result.dtype == expected
    if np.dtype(expected).kind == "f":
        assert (a @ b).dtype == expected and (a - b).dtype == expected


def test_zero_dim_tensors_do_not_widen_within_a_category():
    x = ember.ones(3)  # float32
    assert (x + ember.tensor(2.0, dtype=ember.float64)).dtype == np.float32
    assert (ember.ones(3, dtype=ember.int32) + ember.tensor(2)).dtype == np.int32
    # a higher category wins even from a 0-d tensor
    assert (ember.ones(3, dtype=ember.int64) + ember.tensor(2.0, dtype=ember.float64)).dtype == np.float64


def test_mixed_dtype_gradient_flows_back_in_each_dtype():
    a = ember.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = ember.tensor(np.full(3, 2.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])


# -------------------------------------------------------------------------------- numerical stability
def test_softmax_and_log_softmax_are_stable_at_plus_minus_1000():
    x = ember.tensor([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    probabilities = ember.softmax(x, -1).numpy()
    assert np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)
    log_probabilities = ember.log_softmax(x, -1).numpy()
    np.testing.assert_allclose(log_probabilities, [[0.0, -2000.0, -1000.0], [-math.log(3)] * 3], rtol=1e-6)
    logits = leaf([[1000.0, -1000.0, 0.0]])
    ember.log_softmax(logits, 1)[0, 1].backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-1.0, 1.0, 0.0]], atol=1e-7)


def test_logsumexp_rows_of_minus_inf():
    x = leaf([[-np.inf, -np.inf], [0.0, -np.inf], [1000.0, 1000.0]])
    result = x.logsumexp(1)
    np.testing.assert_allclose(result.detach().numpy(), [-np.inf, 0.0, 1000.0 + math.log(2)])
    result[1:].sum().backward()
    # exp(x - result) with result = 1000 + log 2 rounded to float32 (spacing 6e-5 there)
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [1.0, 0.0], [0.5, 0.5]], atol=1e-4)
    y = leaf([[-np.inf, -np.inf]])
    y.logsumexp(-1, keepdim=True).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0.0, 0.0]])  # an empty row has nothing to share


def test_sigmoid_saturates_without_overflow():
    with np.errstate(all="raise"):
        result = ember.sigmoid(ember.tensor([-1000.0, 0.0, 1000.0])).numpy()
    np.testing.assert_allclose(result, [0.0, 0.5, 1.0])


def test_erf_float32_is_accurate_to_a_few_ulp():
    x = np.concatenate([np.linspace(-6, 6, 20001), np.geomspace(1e-30, 6, 2000)]).astype(np.float32)
    expected = np.array([math.erf(float(v)) for v in x])
    result = erf_array(x)
    assert result.dtype == np.float32
    ulp = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(result - expected) / ulp) < 2.5
    edges = erf_array(np.array([np.inf, -np.inf, 1e30, np.nan, 0.0], dtype=np.float32))
    np.testing.assert_array_equal(edges[:3], [1.0, -1.0, 1.0])
    assert np.isnan(edges[3]) and edges[4] == 0.0
    np.testing.assert_allclose(erf_array(np.array([0.5, 2.5, 4.0])), [math.erf(0.5), math.erf(2.5), math.erf(4.0)],
                               rtol=1e-14)
    assert erf_array(np.array([0.5], dtype=np.float16)).dtype == np.float16


def test_gelu_both_modes_against_closed_forms():
    data = np.linspace(-5, 5, 101)
    exact = data * 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in data]))
    tanh_form = 0.5 * data * (1 + np.tanh(math.sqrt(2 / math.pi) * (data + 0.044715 * data**3)))
    np.testing.assert_allclose(ember.gelu(ember.tensor(data)).numpy(), exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ember.gelu(ember.tensor(data.astype(np.float32))).numpy(), exact, atol=1e-6)
    np.testing.assert_allclose(ember.gelu(ember.tensor(data), approximate="tanh").numpy(), tanh_form, rtol=1e-12)
    assert not np.allclose(exact, tanh_form, atol=1e-5)  # the two modes differ
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        ember.gelu(ember.tensor(data), approximate="fast")


# --------------------------------------------------------------------------------------------- gradients
def test_getitem_gradient_with_heavily_repeated_indices_matches_add_at():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((6, 4, 5)).astype(np.float32)
    upstream_rows = rng.standard_normal((300, 4, 5)).astype(np.float32)
    rows = rng.integers(-6, 6, 300)
    x = leaf(data)
    x[ember.tensor(rows)].backward(ember.tensor(upstream_rows))
    expected = np.zeros_like(data)
    np.add.at(expected, rows, upstream_rows)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-5)

    cols = rng.integers(0, 4, 50)
    depth = rng.integers(0, 5, 50)
    upstream = rng.standard_normal((6, 50)).astype(np.float32)
    x = leaf(data)
    x[:, cols, depth].backward(ember.tensor(upstream))
    expected = np.zeros_like(data)
    np.add.at(expected, (slice(None), cols, depth), upstream)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-5)

    mask_rows = rng.integers(0, 6, (7, 3))
    upstream = rng.standard_normal((7, 3, 5)).astype(np.float32)
    x = leaf(data)
    x[mask_rows, 2].backward(ember.tensor(upstream))
    expected = np.zeros_like(data)
    np.add.at(expected, (mask_rows, 2), upstream)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_gather_gradient_with_repeats_matches_add_at():
    rng = np.random.default_rng(4)
    data = rng.standard_normal((3, 5)).astype(np.float32)
    index = rng.integers(0, 5, (3, 9))
    upstream = rng.standard_normal((3, 9)).astype(np.float32)
    x = leaf(data)
    x.gather(1, ember.tensor(index)).backward(ember.tensor(upstream))
    expected = np.zeros_like(data)
    np.add.at(expected, (np.arange(3)[:, None], index), upstream)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_index_gradient_keeps_float32_and_sequence_keys():
    x = leaf(np.ones((3, 4)))
    x[:, (1, 1, 3)].sum().backward()  # a tuple inside the key is a sequence index, as in NumPy
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2, 0, 1]] * 3)
    assert x.grad.dtype == np.float32
    assert x[[]].shape == (0, 4)


def test_prod_gradient_with_zeros_matches_products_of_the_others():
    data = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, 2.0, 4.0]])
    x = leaf(data, np.float64)
    x.prod(1).sum().backward()
    expected = np.array([[np.prod(np.delete(row, i)) for i in range(3)] for row in data])
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_step_functions_have_zero_gradient():
    x = leaf([-1.5, 0.3, 2.7])
    (x.sign() + ember.floor(x) + ember.ceil(x) + ember.round(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ember.round(ember.tensor([0.5, 1.5, 2.5])).numpy(), [0.0, 2.0, 2.0])


def test_norm_at_zero_has_zero_gradient_and_p0_counts():
    x = leaf([0.0, 0.0, 0.0])
    x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    assert ember.tensor([0.0, 2.0, -1.0]).norm(0).item() == 2.0
    assert ember.tensor(3.0).norm().item() == 3.0


def test_empty_dim_tuple_reduces_every_dim_as_in_pytorch():
    x = ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert x.sum(()).item() == 15.0 and x.mean(dim=[]).item() == 2.5
    assert x.amax((), keepdim=True).shape == (1, 1)


def test_zero_dim_inputs_accept_dim_0():
    x = ember.tensor(2.5)
    assert x.sum(0).shape == () and x.mean(-1).item() == 2.5 and x.prod(0, keepdim=True).shape == ()
    values, indices = x.max(0)
    assert values.item() == 2.5 and indices.item() == 0 and indices.dtype == np.int64
    assert x.argmax(0).item() == 0
    assert ember.softmax(x, 0).item() == 1.0
    with pytest.raises(IndexError, match="sum: dim 1 is out of range"):
        x.sum(1)


# ------------------------------------------------------------------------------------------- scatter
def test_scatter_add_rows_sums_repeats_and_keeps_dtype():
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    indices = np.array([3, 0, 3, 3, 1, 0])
    result = scatter_add_rows(indices, values, 5)
    expected = np.zeros((5, 2), dtype=np.float32)
    np.add.at(expected, indices, values)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(scatter_add_rows(np.array([2, 0]), values[:2], 3), [[2, 3], [0, 0], [0, 1]])
    assert scatter_add_rows(np.array([], dtype=np.int64), np.zeros((0, 2), np.float32), 2).shape == (2, 2)


@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_affine_backward_on_arrays_gives_the_recorded_numbers(transposed, bias):
    """A plain backward runs the fused Linear/Dense node's products on raw arrays; with create_graph it runs
    them as recorded ops. Both give the same numbers, 3-d inputs included."""
    from ember.functions.linalg import affine

    rng = np.random.default_rng(9)
    x_np = rng.standard_normal((2, 5, 6)).astype(np.float32)
    w_np = rng.standard_normal((4, 6) if transposed else (6, 4)).astype(np.float32)
    b_np = rng.standard_normal(4).astype(np.float32)
    g_np = rng.standard_normal((2, 5, 4)).astype(np.float32)
    results = []
    for create_graph in (False, True):
        x, w, b = leaf(x_np), leaf(w_np), (leaf(b_np) if bias else None)
        y = affine(x, w, b, transposed=transposed)
        inputs = [x, w] + ([b] if bias else [])
        results.append([g.numpy() for g in ember.grad(y, inputs, ember.tensor(g_np), create_graph=create_graph)])
    for plain, recorded in zip(*results):
        np.testing.assert_array_equal(plain, recorded)


# ------------------------------------------------------------------------------- logits behind outputs
def test_logits_of_returns_the_input_of_softmax_and_sigmoid_with_or_without_a_graph():
    from ember.functions.activation import logits_of

    x = leaf([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    for recording in (True, False):
        with ember.enable_grad() if recording else ember.no_grad():
            probabilities = ember.softmax(x, dim=-1)
            positive = ember.sigmoid(x)
        assert logits_of(probabilities, "softmax", -1) is x and logits_of(probabilities, "softmax", 1) is x
        assert logits_of(positive, "sigmoid") is x
        assert logits_of(probabilities, "sigmoid") is None and logits_of(positive, "softmax") is None
        assert logits_of(probabilities, "softmax", 0) is None  # normalised over another axis
    assert logits_of(x.softmax(-1), "softmax") is not None  # the method and nn.functional share the wrapper
    by_hand = x.exp() / x.exp().sum(-1, keepdim=True)
    assert logits_of(by_hand, "softmax") is None
    assert logits_of(ember.softmax(x, dim=-1).detach(), "softmax") is None
    assert logits_of(x, "softmax") is None


def test_logits_of_lets_the_input_go_with_the_output():
    import gc
    import weakref

    from ember.functions import activation

    with ember.no_grad():
        x = ember.randn(4, 3)
        probabilities = ember.softmax(x)
    watched = weakref.ref(x)
    entries = len(activation._LOGITS)
    del x
    assert watched() is not None  # kept while its softmax output lives
    del probabilities
    gc.collect()
    assert watched() is None and len(activation._LOGITS) == entries - 1
