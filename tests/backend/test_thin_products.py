"""A linear layer's products for inputs of few features (kernels/thin_gemm.c, ``Kernels.thin_forward`` and
``thin_weight_grad``): their numbers against NumPy's over the register blocks' edges, any team size, both weight
layouts and dtypes, what they decline or refuse; and ``Affine`` taking them once Ember has the cores."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import config
from ember.backend import threads
from ember.functions import linalg

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-4), np.float64: dict(rtol=1e-12, atol=1e-11)}


def _lanes(kernels, dtype) -> int:
    return kernels.vector_bytes // np.dtype(dtype).itemsize


# (rows, features, outputs in vectors): blocks of 8 and 4 features and single ones; strips of 3, 2 and 1
# vectors; rows over several chunks of 128; no rows; LSTM(28 -> 128)'s input projection over MNIST's rows
SHAPES = [(300, 28, 5), (7, 3, 1), (129, 9, 4), (33, 32, 2), (0, 4, 1), (5, 1, 3), (3584, 28, 32)]


@pytest.mark.parametrize("team", [1, 2, 3])
@pytest.mark.parametrize("transposed", [True, False], ids=["nn-layout", "keras-layout"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"rows{r}k{k}v{v}" for r, k, v in SHAPES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thin_products_match_numpy(kernels, dtype, shape, transposed, team):
    rows, k, vectors = shape
    n = vectors * _lanes(kernels, dtype)
    rng = np.random.default_rng(rows + 10 * k + vectors)
    x = rng.standard_normal((rows, k)).astype(dtype)
    weight = rng.standard_normal((n, k) if transposed else (k, n)).astype(dtype)
    grad = rng.standard_normal((rows, n)).astype(dtype)
    w = weight.astype(np.float64).T if transposed else weight.astype(np.float64)
    y = kernels.thin_forward(x, weight, transposed, team)
    np.testing.assert_allclose(y, x.astype(np.float64) @ w, **TOLERANCE[dtype])
    grad_weight = kernels.thin_weight_grad(x, grad, transposed, team)
    expected = x.astype(np.float64).T @ grad.astype(np.float64)
    assert grad_weight.shape == weight.shape and grad_weight.dtype == dtype
    np.testing.assert_allclose(grad_weight, expected.T if transposed else expected, **TOLERANCE[dtype])
    # the sums' order depends on the shape alone: any team gives one thread's numbers
    np.testing.assert_array_equal(y, kernels.thin_forward(x, weight, transposed, 1))
    np.testing.assert_array_equal(grad_weight, kernels.thin_weight_grad(x, grad, transposed, 1))


def test_thin_products_decline_wide_inputs_and_part_vectors_and_refuse_mismatches(kernels):
    lanes = _lanes(kernels, np.float32)
    wide = kernels.thin_features + 1
    x = np.ones((4, wide), np.float32)
    assert kernels.thin_forward(x, np.ones((lanes, wide), np.float32), True, 2) is None
    assert kernels.thin_weight_grad(x, np.ones((4, lanes), np.float32), True, 2) is None
    x = np.ones((4, 3), np.float32)
    assert kernels.thin_forward(x, np.ones((lanes + 1, 3), np.float32), True, 2) is None
    assert kernels.thin_weight_grad(x, np.ones((4, lanes + 1), np.float32), True, 2) is None
    with pytest.raises(ValueError, match="thin_forward"):  # weight (n, 4) against 3 features
        kernels.thin_forward(x, np.ones((lanes, 4), np.float32), True, 2)
    with pytest.raises(ValueError, match="thin_weight_grad"):  # 5 rows of gradient against 4 of input
        kernels.thin_weight_grad(x, np.ones((5, lanes), np.float32), True, 2)
    with pytest.raises(ValueError, match="thin_forward"):  # dtypes differ
        kernels.thin_forward(x, np.ones((lanes, 3), np.float64), True, 2)


@pytest.mark.parametrize("transposed", [True, False])
def test_affine_takes_the_thin_products_once_ember_has_the_cores(kernels, transposed):
    """With the cores taken (as after a convolution or a recurrent sequence) and the output large enough to
    share, a float32 Affine of 28 input features runs ``forward_thin`` and its weight gradient by the thin
    kernel, with the reference path's numbers; a float64 one of 40 features declines."""
    config.set(num_threads=2)
    try:
        if threads.claim_cores() == 1:
            pytest.skip("NumPy here does not use an OpenBLAS that Ember can set to one thread")
        rng = np.random.default_rng(7)
        outputs = 4 * _lanes(kernels, np.float32)
        arrays = [rng.standard_normal((3, 50, 28)), rng.standard_normal((outputs, 28) if transposed else (28, outputs)),
                  rng.standard_normal(outputs)]
        upstream = rng.standard_normal((3, 50, outputs)).astype(np.float32)

        def run(fast):
            tensors = [ember.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
            with config.override(fast_paths=fast, parallel_numbers=1):
                y = linalg.Affine(transposed)(*tensors)
                (y * ember.tensor(upstream)).sum().backward()
            return [y.numpy()] + [t.grad.numpy() for t in tensors]

        fast = run(True)
        assert config.paths()["Affine.forward"] == "forward_thin"
        for value, reference in zip(fast, run(False)):
            np.testing.assert_allclose(value, reference, rtol=1e-5, atol=1e-4)
        wide = [ember.tensor(rng.standard_normal(shape)) for shape in ((60, 40), (outputs, 40))]
        with config.override(parallel_numbers=1):
            linalg.Affine(True)(*wide)
        assert config.paths()["Affine.forward"] == "forward"
    finally:
        config.reset("num_threads")
