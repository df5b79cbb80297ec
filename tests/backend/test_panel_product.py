"""The packed products of the recurrent sequences (kernels/panel_gemm.c, ``Kernels.panel_product``): their
numbers against NumPy's over the register blocks' edges (rows left over, a narrower last panel), both layouts
of the right-hand side, and what they decline or refuse."""
from __future__ import annotations

import numpy as np
import pytest

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _lanes(kernels, dtype) -> int:
    return kernels.vector_bytes // np.dtype(dtype).itemsize


# (m, k, n in vectors): one full block and none left; rows left over; panels of 4, 3, 2 and 1 vectors; one row;
# an LSTM step's (64, 128) @ (128, 512) when vectors are 16 floats wide
SHAPES = [(4, 8, 4), (9, 5, 1), (13, 37, 11), (7, 40, 3), (1, 3, 6), (3, 1, 2), (64, 128, 32)]


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"m{m}k{k}n{n}v" for m, k, n in SHAPES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_panel_product_matches_numpy(kernels, dtype, shape, transposed):
    m, k, vectors = shape
    n = vectors * _lanes(kernels, dtype)
    rng = np.random.default_rng(m * 1000 + k)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = kernels.panel_product(a, np.ascontiguousarray(b.T) if transposed else b, transposed)
    assert out.shape == (m, n) and out.dtype == dtype
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **TOLERANCE[dtype])


def test_panel_product_of_empty_sums_is_zeros(kernels):
    n = _lanes(kernels, np.float32)
    out = kernels.panel_product(np.empty((3, 0), np.float32), np.empty((0, n), np.float32))
    np.testing.assert_array_equal(out, np.zeros((3, n), np.float32))
    assert kernels.panel_product(np.empty((0, 2), np.float32), np.ones((2, n), np.float32)).shape == (0, n)


def test_panel_product_declines_widths_of_part_vectors_and_refuses_mismatches(kernels):
    n = _lanes(kernels, np.float32)
    assert kernels.panel_product(np.ones((2, 3), np.float32), np.ones((3, n + 1), np.float32)) is None
    with pytest.raises(ValueError, match="panel_product"):  # inner sizes differ
        kernels.panel_product(np.ones((2, 3), np.float32), np.ones((4, n), np.float32))
    with pytest.raises(ValueError, match="panel_product"):  # dtypes differ
        kernels.panel_product(np.ones((2, 3), np.float32), np.ones((3, n), np.float64))
    with pytest.raises(ValueError, match="panel_product"):  # not C-contiguous
        kernels.panel_product(np.ones((3, 2), np.float32).T, np.ones((3, n), np.float32))
