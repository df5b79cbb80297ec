"""GELU's compiled fast paths: taken where the kernels are built, and the reference path's numbers."""
import numpy as np
import pytest

import ember


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_gelu_compiled_paths_run_and_give_the_reference_numbers(kernels, dtype, tolerance):
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal((12, 8, 64)) * 3).astype(dtype)
    # both erf branches and their boundary (|x / sqrt(2)| = 1), zeros, and tails where exp underflows
    x_np.reshape(-1)[:8] = [0.0, -0.0, np.sqrt(2.0), -np.sqrt(2.0), 1e-30, -40.0, 40.0, -200.0]
    grad_np = rng.standard_normal(x_np.shape).astype(dtype)

    def run():
        x = ember.tensor(x_np, requires_grad=True)
        y = ember.nn.functional.gelu(x)
        y.backward(ember.tensor(grad_np))
        return y.numpy(), x.grad.numpy()

    fast = run()
    assert ember.config.paths()["GELU.forward"] == "forward_compiled"
    assert ember.config.paths()["GELU.backward"] == "backward_arrays"
    with ember.config.override(fast_paths=False):
        reference = run()
    assert ember.config.paths()["GELU.forward"] == "forward"
    for got, want in zip(fast, reference):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_gelu_on_a_strided_input_declines_the_compiled_forward(kernels):
    x_np = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)
    x = ember.tensor(x_np.T, requires_grad=True)  # a transposed view
    y = ember.nn.functional.gelu(x)
    assert ember.config.paths()["GELU.forward"] == "forward"
    with ember.config.override(fast_paths=False):
        reference = ember.nn.functional.gelu(ember.tensor(x_np.T)).numpy()
    np.testing.assert_array_equal(y.numpy(), reference)
