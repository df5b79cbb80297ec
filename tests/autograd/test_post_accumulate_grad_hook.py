"""``Tensor.register_post_accumulate_grad_hook``: when it runs, what ``.grad`` holds then, and when not."""
import numpy as np
import pytest

import ember


def test_hook_sees_the_final_gradient_of_a_leaf_used_twice():
    weight = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen = []
    weight.register_post_accumulate_grad_hook(lambda tensor: seen.append(tensor.grad.numpy().copy()))
    ((weight * 2).sum() + (weight * weight).sum()).backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], 2 + 2 * np.array([1.0, 2.0, 3.0]))


def test_hook_runs_before_the_backward_pass_ends():
    # layer 2's weight is finished long before layer 1's: its hook must see layer 1's .grad still empty
    first = ember.randn(4, 4, requires_grad=True)
    second = ember.randn(4, 4, requires_grad=True)
    x = ember.randn(3, 4)
    order = []
    second.register_post_accumulate_grad_hook(lambda tensor: order.append(("second", first.grad is None)))
    first.register_post_accumulate_grad_hook(lambda tensor: order.append(("first", second.grad is None)))
    ((x @ first).tanh() @ second).sum().backward()
    assert order == [("second", True), ("first", False)]


def test_hook_sees_accumulated_gradient_across_passes_and_can_be_removed():
    weight = ember.tensor([1.0, -1.0], requires_grad=True)
    seen = []
    handle = weight.register_post_accumulate_grad_hook(lambda tensor: seen.append(tensor.grad.numpy().copy()))
    (weight * 3).sum().backward()
    (weight * 3).sum().backward()
    np.testing.assert_allclose(seen[-1], [6.0, 6.0])
    handle.remove()
    (weight * 3).sum().backward()
    assert len(seen) == 2
    assert weight._post_accumulate_grad_hooks is None


def test_hook_not_called_by_grad_or_for_leaves_outside_inputs():
    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)
    calls = []
    a.register_post_accumulate_grad_hook(lambda tensor: calls.append("a"))
    b.register_post_accumulate_grad_hook(lambda tensor: calls.append("b"))
    ember.grad((a * b).sum(), (a,))
    assert calls == [] and a.grad is None
    (a * b).sum().backward(inputs=[b])
    assert calls == ["b"] and a.grad is None


def test_hook_may_modify_grad_in_place_and_is_called_without_grad_mode():
    weight = ember.tensor([1.0, 2.0], requires_grad=True)
    modes = []

    def halve(tensor):
        modes.append(ember.is_grad_enabled())
        tensor.grad.array *= 0.5

    weight.register_post_accumulate_grad_hook(halve)
    (weight * 4).sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), [2.0, 2.0])
    assert modes == [False]


def test_hook_on_a_non_leaf_or_without_requires_grad_raises():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda tensor: None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.tensor([1.0]).register_post_accumulate_grad_hook(lambda tensor: None)


def test_copies_and_pickles_drop_the_hooks():
    import copy
    import pickle

    weight = ember.nn.Parameter(ember.tensor([1.0, 2.0]))
    weight.grad = ember.tensor([0.5, 0.5])
    weight.register_post_accumulate_grad_hook(lambda tensor: None)
    for clone in (copy.deepcopy(weight), pickle.loads(pickle.dumps(weight)), copy.copy(weight)):
        assert type(clone) is type(weight) and clone._post_accumulate_grad_hooks is None
        np.testing.assert_array_equal(clone.numpy(), [1.0, 2.0])
        np.testing.assert_array_equal(clone.grad.numpy(), [0.5, 0.5])
        assert clone.requires_grad
    assert weight._post_accumulate_grad_hooks is not None
