"""Creation functions: shapes, dtypes (float32 by default), dtype inference, seeding and bounds."""
from __future__ import annotations

import numpy as np
import pytest

import ember

DTYPES = [ember.float16, ember.float32, ember.float64, ember.int32, ember.int64, ember.bool]


# ------------------------------------------------------------------------------------------ tensor()
@pytest.mark.parametrize("data, expected", [
    ([1.0, 2.0], np.float32),
    ([1, 2.5], np.float32),
    (2.5, np.float32),
    ([[1, 2], [3, 4]], np.int64),
    (7, np.int64),
    ([True, False], np.bool_),
    ([], np.float32),
    (np.ones(3), np.float64),
    (np.ones(3, dtype=np.float32), np.float32),
    (np.ones(3, dtype=np.int32), np.int32),
    (np.float64(2.5), np.float64),
])
def test_tensor_infers_dtype(data, expected):
    assert ember.tensor(data).dtype == expected


def test_tensor_values_shape_and_copy():
    source = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = ember.tensor(source)
    assert x.shape == (2, 3) and not x.requires_grad
    source[0, 0] = 100.0
    assert x.numpy()[0, 0] == 0.0  # tensor() copies
    np.testing.assert_array_equal(ember.tensor([[1, 2], [3, 4]]).numpy(), [[1, 2], [3, 4]])
    assert ember.tensor(3.0).shape == ()
    assert ember.tensor([ember.tensor(1.0), ember.tensor(2.0)]).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_with_explicit_dtype(dtype):
    x = ember.tensor([0, 1, 2], dtype=dtype)
    assert x.dtype == dtype
    np.testing.assert_array_equal(x.numpy(), np.array([0, 1, 2]).astype(dtype))


def test_tensor_requires_grad_only_for_floats():
    assert ember.tensor([1.0, 2.0], requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        ember.tensor([1, 2], requires_grad=True)


def test_dtype_names_are_accepted():
    assert ember.zeros(2, dtype="float64").dtype == np.float64
    assert ember.ones(2, dtype=float).dtype == np.float32
    assert ember.ones(2, dtype=int).dtype == np.int64
    with pytest.raises(TypeError, match="unknown dtype name 'float128x'"):
        ember.zeros(2, dtype="float128x")


# ------------------------------------------------------------------------------------- filled tensors
@pytest.mark.parametrize("make, fill", [(ember.zeros, 0), (ember.ones, 1)])
def test_zeros_ones_shapes_and_dtypes(make, fill):
    for shape_args, shape in [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)), ((), ()), (((),), ())]:
        x = make(*shape_args)
        assert x.shape == shape and x.dtype == np.float32
        assert np.all(x.numpy() == fill)
    for dtype in DTYPES:
        assert make(2, dtype=dtype).dtype == dtype
    assert make(2, 3, requires_grad=True).requires_grad


def test_bad_shapes_are_rejected():
    for bad in [(2.5,), (-1,), ("3",)]:
        with pytest.raises(ValueError, match="expected a shape of non-negative integers"):
            ember.zeros(*bad)


def test_full_dtype_follows_the_value():
    assert ember.full((2, 3), 1.5).dtype == np.float32
    assert ember.full((2,), 7).dtype == np.int64
    assert ember.full((2,), np.int64(7)).dtype == np.int64
    assert ember.full((2,), True).dtype == np.bool_
    assert ember.full(3, 2.0).shape == (3,)
    x = ember.full([2, 2], 4, dtype=ember.float64)
    assert x.dtype == np.float64 and np.all(x.numpy() == 4.0)


def test_like_functions_copy_shape_and_dtype():
    reference = ember.ones(2, 3, dtype=ember.float64)
    for make, fill in [(ember.zeros_like, 0), (ember.ones_like, 1)]:
        x = make(reference)
        assert x.shape == (2, 3) and x.dtype == np.float64 and np.all(x.numpy() == fill)
        assert make(reference, dtype=ember.int32).dtype == np.int32
    filled = ember.full_like(reference, 2.5)
    assert filled.dtype == np.float64 and np.all(filled.numpy() == 2.5)
    assert ember.full_like(ember.tensor([1, 2]), 3).dtype == np.int64
    assert ember.zeros_like(ember.ones(4), requires_grad=True).requires_grad


# ---------------------------------------------------------------------------------------------- ranges
def test_arange():
    x = ember.arange(5)
    assert x.dtype == np.int64 and x.tolist() == [0, 1, 2, 3, 4]
    assert ember.arange(2, 8, 3).tolist() == [2, 5]
    assert ember.arange(10, 0, -4).tolist() == [10, 6, 2]
    y = ember.arange(0, 1, 0.25)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert ember.arange(3.0).dtype == np.float32
    assert ember.arange(4, dtype=ember.float64).dtype == np.float64
    assert ember.arange(0, 1, 0.1).shape == (10,)
    with pytest.raises(ValueError, match="arange: step must be non-zero"):
        ember.arange(0, 5, 0)


def test_linspace():
    x = ember.linspace(0, 1, 5)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), [0.0, 0.25, 0.5, 0.75, 1.0])
    assert ember.linspace(-1, 1, 1).tolist() == [-1.0]
    assert ember.linspace(0, 1, 0).shape == (0,)
    assert ember.linspace(0, 2, 3, dtype=ember.float64).dtype == np.float64
    with pytest.raises(ValueError, match="linspace: steps must be non-negative"):
        ember.linspace(0, 1, -1)


def test_eye():
    x = ember.eye(3)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), np.eye(3))
    rectangular = ember.eye(2, 4, dtype=ember.int64)
    assert rectangular.shape == (2, 4) and rectangular.dtype == np.int64
    np.testing.assert_array_equal(rectangular.numpy(), np.eye(2, 4))


# ---------------------------------------------------------------------------------------------- random
def test_random_functions_give_float32_by_default():
    for make in (ember.rand, ember.randn):
        x = make(3, 4)
        assert x.shape == (3, 4) and x.dtype == np.float32
        assert make((2, 5)).shape == (2, 5)
        assert make(2, dtype=ember.float64).dtype == np.float64
        assert make(2, dtype=ember.float16).dtype == np.float16
        assert make(2, requires_grad=True).requires_grad
    assert ember.rand_like(ember.ones(2, 2)).dtype == np.float32
    assert ember.randn_like(ember.ones(3, dtype=ember.float64)).dtype == np.float64
    assert ember.normal(1.0, 2.0, (4,)).dtype == np.float32


def test_random_functions_reject_integer_dtypes():
    for make in (ember.rand, ember.randn):
        with pytest.raises(TypeError, match="expected a floating dtype, received int64"):
            make(3, dtype=ember.int64)


def test_rand_and_randn_distributions():
    uniform = ember.rand(20000).numpy()
    assert uniform.min() >= 0.0 and uniform.max() < 1.0
    assert abs(uniform.mean() - 0.5) < 0.02
    normal = ember.randn(20000).numpy()
    assert abs(normal.mean()) < 0.03 and abs(normal.std() - 1.0) < 0.03


def test_randint_bounds_shape_and_dtype():
    x = ember.randint(3, 7, (2000,))
    assert x.dtype == np.int64 and x.shape == (2000,)
    assert x.numpy().min() == 3 and x.numpy().max() == 6  # high is exclusive; 2000 draws reach both ends
    assert ember.randint(5, (2, 3)).shape == (2, 3)
    assert ember.randint(5, size=(4,)).numpy().max() < 5
    assert ember.randint(0, 10, (3,), dtype=ember.int32).dtype == np.int32
    with pytest.raises(ValueError, match="randint: expected low < high"):
        ember.randint(5, 5, (3,))


def test_randperm():
    x = ember.randperm(10)
    assert x.dtype == np.int64
    assert sorted(x.tolist()) == list(range(10))


def _draw_everything():
    return [ember.rand(5).numpy(), ember.randn(2, 3).numpy(), ember.randint(0, 1000, (6,)).numpy(),
            ember.randperm(8).numpy(), ember.normal(0.0, 1.0, (3,)).numpy(), ember.rand_like(ember.ones(2)).numpy()]


def test_manual_seed_makes_every_random_function_reproducible():
    ember.manual_seed(123)
    first = _draw_everything()
    ember.manual_seed(123)
    second = _draw_everything()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    ember.manual_seed(124)
    third = _draw_everything()
    assert not any(np.array_equal(a, c) for a, c in zip(first[:3], third[:3]))
    assert ember.initial_seed() == 124


def test_successive_draws_differ_and_rng_state_round_trips():
    ember.manual_seed(0)
    state = ember.get_rng_state()
    a, b = ember.randn(4).numpy(), ember.randn(4).numpy()
    assert not np.array_equal(a, b)
    ember.set_rng_state(state)
    np.testing.assert_array_equal(ember.randn(4).numpy(), a)
