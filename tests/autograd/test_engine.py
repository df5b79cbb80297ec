"""The backward engine: accumulation, graph release, retain_graph, grad(), higher order, memory."""
from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import ember


def test_gradients_accumulate_into_leaves_across_backward_calls():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    assert x.grad.dtype == np.float32


def test_a_tensor_used_twice_gets_both_contributions():
    x = ember.tensor(3.0, requires_grad=True)
    y = x * x + x * 2.0  # dy/dx = 2x + 2
    y.backward()
    assert x.grad.item() == pytest.approx(8.0)


def test_diamond_graph_orders_nodes_topologically():
    x = ember.tensor([0.5, -1.0], requires_grad=True)
    a = x.exp()
    b = a * 2.0
    c = a.sin()
    out = (b * c).sum()  # d/dx = (2 sin(a) + 2a cos(a)) * a
    out.backward()
    a_np = np.exp(x.numpy())
    expected = (2 * np.sin(a_np) + 2 * a_np * np.cos(a_np)) * a_np
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def test_broadcast_gradients_are_summed_to_each_input_shape():
    a = ember.ones(4, 3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    c = ember.ones(4, 1, requires_grad=True)
    ((a + b) * c).sum().backward()
    assert b.grad.shape == (3,) and c.grad.shape == (4, 1)
    np.testing.assert_allclose(b.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_allclose(c.grad.numpy(), [[6.0]] * 4)


def test_second_backward_through_freed_graph_raises_clearly():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_graph_is_released_after_backward():
    x = ember.randn(8, 8, requires_grad=True)
    hidden = (x @ x).tanh()
    node_ref = weakref.ref(hidden.creator)
    hidden_ref = weakref.ref(hidden)
    loss = (hidden * 2.0).sum()
    del hidden
    loss.backward()
    gc.collect()
    assert hidden_ref() is None, "an intermediate tensor outlived backward"
    assert node_ref() is None, "an intermediate graph node outlived backward"


def test_graph_is_kept_with_retain_graph_and_freed_with_the_output():
    x = ember.randn(4, requires_grad=True)
    hidden = x.exp()
    hidden_ref = weakref.ref(hidden)
    loss = (hidden * hidden).sum()
    del hidden
    loss.backward(retain_graph=True)
    gc.collect()
    assert hidden_ref() is not None
    del loss
    gc.collect()
    assert hidden_ref() is None


def test_deep_chain_needs_no_recursion():
    x = ember.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_backward_of_non_scalar_needs_a_gradient():
    x = ember.randn(2, 3, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"one-element outputs.*\(2, 3\)"):
        y.backward()
    y.backward(ember.ones(2, 3))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))


def test_gradient_of_wrong_shape_is_rejected():
    x = ember.randn(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        (x * 2.0).backward(ember.ones(3, 2))


def test_backward_on_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.ones(3).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        ember.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        ember.arange(3).requires_grad_()


def test_leaf_gradients_do_not_alias_each_other():
    a = ember.ones(3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.array *= 10.0  # e.g. gradient clipping in place
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))


def test_leaf_gradient_does_not_alias_the_callers_gradient():
    a = ember.ones(3, requires_grad=True)
    upstream = ember.ones(3)
    (a + 0.0).backward(upstream)
    a.grad.array[...] = 5.0
    np.testing.assert_allclose(upstream.numpy(), np.ones(3))


def test_leaf_gradients_that_are_views_of_one_array_do_not_alias():
    a = ember.ones(3, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    ember.cat([a, b]).sum().backward()  # both gradients are slices of one array
    a.grad.array *= 10.0
    np.testing.assert_allclose(b.grad.numpy(), np.ones(2))


def test_leaf_gradient_viewing_a_kept_array_is_copied():
    a = ember.ones(2, 3, requires_grad=True)
    upstream = ember.ones(3, 2)
    a.T.backward(upstream)  # the gradient is a view of the caller's array
    a.grad.array[...] = 5.0
    np.testing.assert_allclose(upstream.numpy(), np.ones((3, 2)))


def test_leaf_gradient_that_is_the_only_view_of_a_fresh_array_is_not_copied():
    weight = ember.ones(4, 2, 3, 3, requires_grad=True)
    with ember.config.override(conv="im2col"):
        ember.nn.functional.conv2d(ember.ones(5, 2, 6, 6), weight).sum().backward()
    # the weight gradient is a (C_out, C_in, kh, kw) reshape of its GEMM's (C_out, C_in*kh*kw) result, which
    # nothing else holds: it is handed over as it is
    assert weight.grad.array.base is not None
    np.testing.assert_allclose(weight.grad.numpy(), np.full((4, 2, 3, 3), 5 * 16.0))


def test_retain_grad_keeps_nonleaf_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    assert x.grad is not None


def test_backward_inputs_limits_accumulation():
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert a.grad is not None and b.grad is None


def test_grad_returns_gradients_without_touching_dot_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x**3).sum()
    (g,) = ember.grad(y, x)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_grad_with_respect_to_an_intermediate_tensor():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    y = (h * h).sum()
    g_h, g_x = ember.grad(y, [h, x])
    np.testing.assert_allclose(g_h.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(g_x.numpy(), [8.0, 16.0])


def test_grad_unused_input_raises_unless_allowed():
    x = ember.ones(2, requires_grad=True)
    unused = ember.ones(2, requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="not used"):
        ember.grad(y, [x, unused], retain_graph=True)
    gx, gu = ember.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx is not None


def test_grad_outputs_weights_the_vector_jacobian_product():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    (g,) = ember.grad(y, x, grad_outputs=ember.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, 0.0, 12.0])


def test_second_derivative_with_create_graph():
    x = ember.tensor(0.7, dtype=ember.float64, requires_grad=True)
    y = x.sin() * x
    (dy,) = ember.grad(y, x, create_graph=True)
    (d2y,) = ember.grad(dy, x)
    value = 0.7
    assert dy.item() == pytest.approx(np.cos(value) * value + np.sin(value))
    assert d2y.item() == pytest.approx(2 * np.cos(value) - value * np.sin(value))


def test_hessian_vector_product_of_a_tanh_mlp_matches_finite_differences():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((5, 4)) * 0.5
    w2 = rng.standard_normal((4, 1)) * 0.5
    inputs = ember.tensor(rng.standard_normal((6, 5)))
    vector = rng.standard_normal(w1.shape)

    def loss_of(w1_array):
        w1_t = ember.tensor(w1_array, requires_grad=True)
        hidden = (inputs @ w1_t).tanh()
        return ((hidden @ ember.tensor(w2)) ** 2).mean(), w1_t

    loss, w1_t = loss_of(w1)
    (gradient,) = ember.grad(loss, w1_t, create_graph=True)
    (hvp,) = ember.grad((gradient * ember.tensor(vector)).sum(), w1_t)

    eps = 1e-5

    def gradient_at(w1_array):
        value, tensor = loss_of(w1_array)
        (g,) = ember.grad(value, tensor)
        return g.numpy()

    numeric = (gradient_at(w1 + eps * vector) - gradient_at(w1 - eps * vector)) / (2 * eps)
    np.testing.assert_allclose(hvp.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_no_grad_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = x * 2.0
        with ember.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad

    @ember.no_grad()
    def doubled(t):
        return t * 2.0

    assert not doubled(x).requires_grad
    assert ember.is_grad_enabled()


def test_set_grad_enabled_as_function_context_and_decorator():
    x = ember.ones(2, requires_grad=True)
    with ember.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert ember.is_grad_enabled()

    @ember.set_grad_enabled(False)
    def doubled(t):
        return t * 2.0

    assert ember.is_grad_enabled(), "decorating must not switch the mode"
    assert not doubled(x).requires_grad
    ember.set_grad_enabled(False)
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)
    assert ember.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = ember.ones(2, requires_grad=True)
    y = (x * 2.0).detach()
    assert not y.requires_grad and y.is_leaf
    z = (x * 2.0 + y).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_inplace_update_of_leaf_requiring_grad_is_refused_while_recording():
    w = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        w.add_(1.0)
    with ember.no_grad():
        w.add_(1.0)
    np.testing.assert_allclose(w.numpy(), [2.0, 2.0, 2.0])


def test_training_loop_memory_stays_flat_over_10000_steps():
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((16, 8)).astype(np.float32))
    y = ember.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((8, 1)).astype(np.float32) * 0.1, requires_grad=True)
    b = ember.zeros(1, requires_grad=True)

    def step():
        prediction = (x @ w + b).tanh()
        loss = ((prediction - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            w.array -= 0.01 * w.grad.array
            b.array -= 0.01 * b.grad.array
        w.grad = None
        b.grad = None
        return loss.item()

    for _ in range(200):
        step()
    gc.collect()
    tracemalloc.start()
    baseline, _ = tracemalloc.get_traced_memory()
    for _ in range(10_000):
        step()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current - baseline < 200_000, f"memory grew by {current - baseline} bytes over 10,000 steps"


def test_grad_outputs_that_require_grad_stay_differentiable():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    v = ember.tensor([3.0, 4.0], requires_grad=True)
    (g,) = ember.grad(x * x, x, v, create_graph=True)  # g = 2 x v
    (dv,) = ember.grad(g.sum(), v)
    np.testing.assert_allclose(dv.numpy(), [2.0, 4.0])
