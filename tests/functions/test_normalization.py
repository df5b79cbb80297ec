"""Behaviour of batch_norm, layer_norm, group_norm and instance_norm beyond the op table: running statistics,
evaluation mode, dtypes, both backward paths, and errors."""
from __future__ import annotations

import numpy as np
import pytest

import ember

EPS = 1e-5
pytestmark = pytest.mark.usefixtures("cpu_kernels")  # every test on both the compiled and the NumPy kernels


def test_batch_norm_training_updates_running_stats_like_pytorch():
    # per channel: values (1, 3) and (2, 6): mean (2, 4), biased var (1, 4), unbiased var (2, 8)
    x = ember.tensor([[1.0, 2.0], [3.0, 6.0]])
    running_mean, running_var = ember.zeros(2), ember.ones(2)
    mean_array, var_array = running_mean.array, running_var.array
    y = ember.batch_norm(x, running_mean, running_var, training=True, momentum=0.1)
    np.testing.assert_allclose(running_mean.numpy(), [0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(running_var.numpy(), [0.9 + 0.1 * 2.0, 0.9 + 0.1 * 8.0], rtol=1e-6)
    assert running_mean.array is mean_array and running_var.array is var_array  # updated in place
    assert running_mean.dtype == np.float32 and running_var.dtype == np.float32
    expected = np.array([[-1 / np.sqrt(1 + EPS), -2 / np.sqrt(4 + EPS)], [1 / np.sqrt(1 + EPS), 2 / np.sqrt(4 + EPS)]])
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)

    # a second batch compounds with momentum: per channel (0, 0, 3) and (1, 1, 4): mean (1, 2), unbiased var (3, 3)
    x2 = ember.tensor([[0.0, 1.0], [0.0, 1.0], [3.0, 4.0]])
    ember.batch_norm(x2, running_mean, running_var, training=True, momentum=0.5)
    np.testing.assert_allclose(running_mean.numpy(), [0.5 * 0.2 + 0.5 * 1.0, 0.5 * 0.4 + 0.5 * 2.0], rtol=1e-6)
    np.testing.assert_allclose(running_var.numpy(), [0.5 * 1.1 + 0.5 * 3.0, 0.5 * 1.7 + 0.5 * 3.0], rtol=1e-6)


def test_batch_norm_4d_running_stats_use_all_but_the_channel_axis(rng):
    x = rng.standard_normal((4, 3, 5, 2)).astype(np.float32) * 3 + 1
    running_mean, running_var = ember.zeros(3), ember.ones(3)
    ember.batch_norm(ember.tensor(x), running_mean, running_var, training=True, momentum=0.3)
    np.testing.assert_allclose(running_mean.numpy(), 0.3 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(running_var.numpy(), 0.7 + 0.3 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)


def test_batch_norm_eval_uses_running_stats_and_leaves_them_alone(rng):
    x = rng.standard_normal((3, 2, 4)).astype(np.float32)
    running_mean = ember.tensor([0.5, -1.0])
    running_var = ember.tensor([4.0, 0.25])
    weight, bias = ember.tensor([2.0, 3.0]), ember.tensor([0.1, -0.2])
    y = ember.batch_norm(ember.tensor(x), running_mean, running_var, weight, bias, training=False)
    expected = (x - np.array([0.5, -1.0])[:, None]) / np.sqrt(np.array([4.0, 0.25])[:, None] + EPS)
    expected = expected * np.array([2.0, 3.0])[:, None] + np.array([0.1, -0.2])[:, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(running_mean.numpy(), [0.5, -1.0])
    np.testing.assert_array_equal(running_var.numpy(), [4.0, 0.25])


def test_batch_norm_training_without_running_stats(rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = ember.batch_norm(ember.tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy().mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.numpy().var(axis=0), 1.0, rtol=1e-4)


def test_batch_norm_keeps_float32_in_outputs_and_gradients(rng):
    x = ember.tensor(rng.standard_normal((4, 3, 2, 2)).astype(np.float32), requires_grad=True)
    weight = ember.ones(3, requires_grad=True)
    bias = ember.zeros(3, requires_grad=True)
    y = ember.batch_norm(x, ember.zeros(3), ember.ones(3), weight, bias, training=True)
    (y * y * ember.tensor(np.arange(48, dtype=np.float32).reshape(4, 3, 2, 2))).sum().backward()
    assert y.dtype == np.float32
    assert x.grad.dtype == weight.grad.dtype == bias.grad.dtype == np.float32


def _batch_norm_grads(create_graph: bool, rng):
    x = ember.tensor(rng.standard_normal((5, 3, 2)), requires_grad=True)
    weight = ember.tensor(rng.standard_normal(3), requires_grad=True)
    bias = ember.tensor(rng.standard_normal(3), requires_grad=True)
    y = ember.batch_norm(x, None, None, weight, bias, training=True)
    upstream = ember.tensor(np.random.default_rng(5).standard_normal(y.shape))
    return ember.grad(y, (x, weight, bias), upstream, create_graph=create_graph)


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_backward_with_and_without_create_graph_agree(norm):
    """Backward uses saved x_hat normally and recomputes it when recorded; both must give the same numbers."""
    results = []
    for create_graph in (False, True):
        rng = np.random.default_rng(0)
        if norm == "batch":
            results.append(_batch_norm_grads(create_graph, rng))
        else:
            x = ember.tensor(rng.standard_normal((4, 3, 5)), requires_grad=True)
            weight = ember.tensor(rng.standard_normal(5), requires_grad=True)
            y = ember.layer_norm(x, (5,), weight)
            upstream = ember.tensor(np.random.default_rng(5).standard_normal(y.shape))
            results.append(ember.grad(y, (x, weight), upstream, create_graph=create_graph))
    for plain, recorded in zip(*results):
        np.testing.assert_allclose(plain.numpy(), recorded.numpy(), rtol=1e-10, atol=1e-12)


def test_batch_norm_input_gradient_matches_the_fused_formula(rng):
    x = rng.standard_normal((6, 2))
    weight = np.array([1.5, -0.5])
    g = rng.standard_normal((6, 2))
    xt = ember.tensor(x, requires_grad=True)
    y = ember.batch_norm(xt, None, None, ember.tensor(weight), None, training=True)
    y.backward(ember.tensor(g))
    inv_std = 1 / np.sqrt(x.var(axis=0) + EPS)
    x_hat = (x - x.mean(axis=0)) * inv_std
    m = x.shape[0]
    expected = weight * inv_std / m * (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_layer_norm_normalizes_trailing_dims(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 5 + 2
    y = ember.layer_norm(ember.tensor(x), [3, 4]).numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.reshape(2, -1).mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.reshape(2, -1).var(axis=1), 1.0, rtol=1e-4)


def test_group_norm_with_one_group_per_channel_equals_instance_norm(rng):
    x = ember.tensor(rng.standard_normal((2, 3, 4, 2)).astype(np.float32))
    np.testing.assert_allclose(ember.group_norm(x, 3).numpy(), ember.instance_norm(x).numpy(), rtol=1e-5, atol=1e-6)


def test_instance_norm_updates_running_stats_with_batch_averages(rng):
    x = rng.standard_normal((3, 2, 5)).astype(np.float32)
    running_mean, running_var = ember.zeros(2), ember.ones(2)
    ember.instance_norm(ember.tensor(x), running_mean, running_var, momentum=0.1)
    np.testing.assert_allclose(running_mean.numpy(), 0.1 * x.mean(axis=2).mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(running_var.numpy(), 0.9 + 0.1 * x.var(axis=2, ddof=1).mean(axis=0), rtol=1e-5)
    y = ember.instance_norm(ember.tensor(x), running_mean, running_var, use_input_stats=False)
    expected = (x - running_mean.numpy()[:, None]) / np.sqrt(running_var.numpy()[:, None] + EPS)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------- errors
def test_batch_norm_rejects_bad_arguments():
    x = ember.randn(4, 3)
    with pytest.raises(ValueError, match=r"batch_norm: expected weight of shape \(3,\).*received shape \(4,\)"):
        ember.batch_norm(x, None, None, ember.ones(4), training=True)
    with pytest.raises(ValueError, match=r"running_mean of shape \(3,\)"):
        ember.batch_norm(x, ember.zeros(2), ember.ones(2), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ember.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="must be given in evaluation"):
        ember.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="both be given"):
        ember.batch_norm(x, ember.zeros(3), None, training=True)
    with pytest.raises(TypeError, match="momentum must be a float"):
        ember.batch_norm(x, ember.zeros(3), ember.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match=r"at least 2 dims, received \(3,\)"):
        ember.batch_norm(ember.randn(3), None, None, training=True)
    with pytest.raises(TypeError, match="floating"):
        ember.batch_norm(ember.tensor([[1, 2], [3, 4]]), None, None, training=True)
    with pytest.raises(TypeError, match="dtype float64"):
        ember.batch_norm(x, None, None, ember.ones(3, dtype=ember.float64), training=True)


def test_layer_group_instance_norm_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"layer_norm: given normalized_shape=\[5\].*received shape \(2, 4\)"):
        ember.layer_norm(ember.randn(2, 4), (5,))
    with pytest.raises(ValueError, match=r"layer_norm: expected weight of shape \(4,\)"):
        ember.layer_norm(ember.randn(2, 4), 4, ember.ones(3))
    with pytest.raises(ValueError, match="num_groups dividing the number of channels 6"):
        ember.group_norm(ember.randn(2, 6, 3), 4)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        ember.instance_norm(ember.randn(2, 3, 1))


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_backward_on_arrays_matches_the_recorded_backward(affine):
    """Without create_graph, batch norm's backward runs on raw arrays; with it, on Ember ops: same numbers."""
    rng = np.random.default_rng(7)
    x_np, g_np = rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((4, 3, 5, 5))
    weight_np, bias_np = rng.standard_normal(3), rng.standard_normal(3)
    results = []
    for create_graph in (False, True):
        x = ember.tensor(x_np, requires_grad=True)
        weight = ember.tensor(weight_np, requires_grad=True) if affine else None
        bias = ember.tensor(bias_np, requires_grad=True) if affine else None
        y = ember.batch_norm(x, None, None, weight, bias, training=True, eps=1e-3)
        y.backward(ember.tensor(g_np), create_graph=create_graph)
        results.append([x.grad.numpy()] + ([weight.grad.numpy(), bias.grad.numpy()] if affine else []))
    for fast, recorded in zip(*results):
        np.testing.assert_allclose(fast, recorded, rtol=1e-9, atol=1e-12)


def test_layer_norm_over_the_last_axis_takes_its_fast_paths_and_gives_the_reference_numbers(cpu_kernels):
    forward_path = "forward_gemv" if cpu_kernels == "numpy" else "forward_compiled"
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((4, 6, 32)).astype(np.float32)
    weight_np, bias_np = (rng.standard_normal(32).astype(np.float32) for _ in range(2))

    def run():
        x, weight, bias = (ember.tensor(a, requires_grad=True) for a in (x_np, weight_np, bias_np))
        y = ember.nn.functional.layer_norm(x, (32,), weight, bias)
        y.backward(ember.tensor(np.cos(x_np)))
        return [y.numpy(), x.grad.numpy(), weight.grad.numpy(), bias.grad.numpy()]

    fast = run()
    assert ember.config.paths()["LayerNorm.forward"] == forward_path
    assert ember.config.paths()["LayerNorm.backward"] == "backward_arrays"
    with ember.config.override(fast_paths=False):
        reference = run()
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
