"""User-defined ops with ember.autograd.Function, and gradcheck itself."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from ember.autograd import Function, gradcheck, gradgradcheck


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3.0 * x * x


class ScaledExp(Function):
    """Two inputs, a non-tensor argument, and a saved output."""

    @staticmethod
    def forward(ctx, x, scale, weight):
        y = (x * scale).exp() * weight
        ctx.scale = scale
        ctx.save_for_backward(y, weight)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, weight = ctx.saved_tensors
        grad_x = grad * y * ctx.scale if ctx.needs_input_grad[0] else None
        grad_weight = grad * y / weight if ctx.needs_input_grad[2] else None
        return grad_x, None, grad_weight


def test_custom_function_forward_and_backward():
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    y = Cube.apply(x)
    np.testing.assert_allclose(y.numpy(), [1.0, -8.0])
    assert y.creator is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])


def test_custom_function_passes_gradcheck_and_double_backward():
    x = ember.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    assert gradcheck(Cube.apply, [x])
    assert gradgradcheck(Cube.apply, [x])


def test_custom_function_with_non_tensor_argument_and_needs_input_grad():
    x = ember.tensor(np.array([0.1, 0.2]), requires_grad=True)
    weight = ember.tensor(np.array([1.5, 2.0]), requires_grad=True)
    assert gradcheck(lambda a, w: ScaledExp.apply(a, 0.5, w), [x, weight])
    frozen = ember.tensor(np.array([1.5, 2.0]))
    out = ScaledExp.apply(x, 0.5, frozen)
    out.sum().backward()
    assert frozen.grad is None


def test_custom_function_without_grad_records_nothing():
    x = ember.tensor([1.0, 2.0])
    y = Cube.apply(x)
    assert y.creator is None and not y.requires_grad


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x  # should be 2x

    x = ember.tensor(np.array([0.3, 0.7]), requires_grad=True)
    with pytest.raises(AssertionError, match="disagrees with finite differences"):
        gradcheck(WrongSquare.apply, [x])
    assert gradcheck(WrongSquare.apply, [x], raise_exception=False) is False


def test_gradcheck_requires_float64():
    x = ember.tensor([0.3, 0.7], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(Cube.apply, [x])


def test_gradgradcheck_catches_a_backward_cut_from_the_graph():
    class DetachedSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * ember.tensor(2.0 * x.numpy())  # right value, but constant: no second derivative

    x = ember.tensor(np.array([0.3, -0.7]), requires_grad=True)
    assert gradcheck(DetachedSquare.apply, [x])
    with pytest.raises(AssertionError, match="finite differences"):
        gradgradcheck(DetachedSquare.apply, [x])


def test_saved_numpy_scalar_output_stays_connected_for_0d_inputs():
    from ember.autograd import Primitive

    class RawExp(Primitive):
        def forward(self, x):
            y = np.exp(x)  # a NumPy scalar for a 0-d input
            self.save_for_backward(y)
            return y

        def backward(self, grad):
            (y,) = self.saved_tensors
            return grad * y

    x = ember.tensor(0.5, dtype=ember.float64, requires_grad=True)
    (first,) = ember.grad(RawExp()(x), x, create_graph=True)
    (second,) = ember.grad(first, x)
    assert second.item() == pytest.approx(np.exp(0.5))


def test_gradcheck_nondet_tol_warns_that_it_has_no_effect():
    x = ember.tensor(np.array([0.5, -1.5]), requires_grad=True)
    with pytest.warns(UserWarning, match=r"gradcheck: nondet_tol=1e-05 has no effect in Ember"):
        assert gradcheck(lambda t: (t * t).sum(), (x,), nondet_tol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda t: (t * t).sum(), (x,), nondet_tol=0.0)
